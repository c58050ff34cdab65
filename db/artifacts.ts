/**
 * The artifacts table (0008_artifacts): which object of the store holds what,
 * for whom. The tenant is in every query; the bytes are in the object store
 * (storage/artifacts.ts writes both).
 */
import { sql } from 'kysely';
import type { ArtifactKind } from './artifact-tables.js';
import type { Db } from './client.js';

export type { ArtifactKind } from './artifact-tables.js';

export interface ArtifactRow {
  readonly id: string;
  readonly tenantId: string;
  readonly sessionId: string | null;
  readonly step: number | null;
  readonly ref: string;
  readonly kind: ArtifactKind;
  readonly name: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly mediaType: string;
  readonly storageKey: string;
  readonly tier: 'hot' | 'cold';
  readonly retentionClass: string | null;
  readonly legalHold: boolean;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
}

export interface NewArtifactRow {
  readonly tenantId: string;
  readonly sessionId: string | null;
  readonly step?: number | null;
  readonly ref: string;
  readonly kind: ArtifactKind;
  readonly name: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly mediaType: string;
  readonly storageKey: string;
  readonly retentionClass?: string | null;
  readonly expiresAt?: Date | null;
}

const COLUMNS = [
  'id',
  'tenant_id',
  'session_id',
  'step',
  'ref',
  'kind',
  'name',
  'sha256',
  'size_bytes',
  'media_type',
  'storage_key',
  'tier',
  'retention_class',
  'legal_hold',
  'created_at',
  'expires_at',
] as const;

type Selected = {
  id: string;
  tenant_id: string;
  session_id: string | null;
  step: number | null;
  ref: string;
  kind: ArtifactKind;
  name: string;
  sha256: string;
  size_bytes: string;
  media_type: string;
  storage_key: string;
  tier: 'hot' | 'cold';
  retention_class: string | null;
  legal_hold: boolean;
  created_at: Date;
  expires_at: Date | null;
};

function toRow(r: Selected): ArtifactRow {
  return {
    id: String(r.id),
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    step: r.step,
    ref: r.ref,
    kind: r.kind,
    name: r.name,
    sha256: r.sha256,
    sizeBytes: Number(r.size_bytes),
    mediaType: r.media_type,
    storageKey: r.storage_key,
    tier: r.tier,
    retentionClass: r.retention_class,
    legalHold: r.legal_hold,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

/** The object key of a tenant's bytes: one object per tenant and sha256. */
export function artifactStorageKey(tenantId: string, sha256: string): string {
  return `tenants/${tenantId}/sha256/${sha256}`;
}

/** Serialises one tenant's artifact writes (the total-bytes check and the insert), for the transaction. */
export async function lockTenantArtifacts(trx: Db, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`kortix:artifacts:${tenantId}`}))`.execute(trx);
}

/** The row a write with this ref already made (a retried activity), if any. */
export async function artifactByRef(db: Db, tenantId: string, sessionId: string | null, ref: string): Promise<ArtifactRow | undefined> {
  let q = db.selectFrom('artifacts').select(COLUMNS).where('tenant_id', '=', tenantId).where('ref', '=', ref);
  q = sessionId === null ? q.where('session_id', 'is', null) : q.where('session_id', '=', sessionId);
  const row = await q.executeTakeFirst();
  return row ? toRow(row as Selected) : undefined;
}

/** Whether the tenant already stores these bytes (then no upload, and no extra bytes against its total). */
export async function tenantHasSha(db: Db, tenantId: string, sha256: string): Promise<boolean> {
  const row = await db.selectFrom('artifacts').select('id').where('tenant_id', '=', tenantId).where('sha256', '=', sha256).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** Bytes the tenant stores: each distinct sha256 once. */
export async function tenantArtifactBytes(db: Db, tenantId: string): Promise<number> {
  const { rows } = await sql<{ total: string | null }>`
    select sum(size_bytes)::text as total
    from (select distinct on (sha256) size_bytes from artifacts where tenant_id = ${tenantId} order by sha256) as distinct_objects
  `.execute(db);
  return Number(rows[0]?.total ?? 0);
}

/** Inserts the row, or returns the one with the same ref (a retry). */
export async function insertArtifact(db: Db, row: NewArtifactRow): Promise<ArtifactRow> {
  const inserted = await db
    .insertInto('artifacts')
    .values({
      tenant_id: row.tenantId,
      session_id: row.sessionId,
      step: row.step ?? null,
      ref: row.ref,
      kind: row.kind,
      name: row.name,
      sha256: row.sha256,
      size_bytes: row.sizeBytes,
      media_type: row.mediaType,
      storage_key: row.storageKey,
      retention_class: row.retentionClass ?? null,
      expires_at: row.expiresAt ?? null,
    })
    .onConflict((oc) => oc.columns(['tenant_id', 'session_id', 'ref']).doNothing())
    .returning(COLUMNS)
    .executeTakeFirst();
  if (inserted) return toRow(inserted as Selected);
  const existing = await artifactByRef(db, row.tenantId, row.sessionId, row.ref);
  if (!existing) throw new Error(`artifact ${row.ref} of session ${row.sessionId ?? '-'} neither inserted nor found`);
  return existing;
}

/** A session's artifacts, oldest first. */
export async function listSessionArtifacts(db: Db, tenantId: string, sessionId: string): Promise<ArtifactRow[]> {
  const rows = await db
    .selectFrom('artifacts')
    .select(COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('session_id', '=', sessionId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => toRow(r as Selected));
}

/** The newest row of the session's artifacts with these bytes or of this kind. */
async function newestSessionArtifact(
  db: Db,
  tenantId: string,
  sessionId: string,
  match: { readonly sha256: string } | { readonly kind: ArtifactKind },
): Promise<ArtifactRow | undefined> {
  const scoped = db.selectFrom('artifacts').select(COLUMNS).where('tenant_id', '=', tenantId).where('session_id', '=', sessionId);
  const matching = 'sha256' in match ? scoped.where('sha256', '=', match.sha256) : scoped.where('kind', '=', match.kind);
  const row = await matching.orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row ? toRow(row as Selected) : undefined;
}

/** The session's artifact with these bytes (the newest row of them), if the session has one. */
export function sessionArtifactBySha(db: Db, tenantId: string, sessionId: string, sha256: string): Promise<ArtifactRow | undefined> {
  return newestSessionArtifact(db, tenantId, sessionId, { sha256 });
}

/** The newest artifact of a kind of a session (its workspace tarball), if any. */
export function latestSessionArtifact(db: Db, tenantId: string, sessionId: string, kind: ArtifactKind): Promise<ArtifactRow | undefined> {
  return newestSessionArtifact(db, tenantId, sessionId, { kind });
}

/**
 * Deletes the rows past their expiry (not held, of tenants not held), and each
 * object no row uses any more (`deleteObject`, called under the tenant's
 * artifact lock, so a write deduplicating onto it at the same time waits and
 * then uploads it again). Returns how many rows went.
 */
export async function expireArtifactRows(
  db: Db,
  now: Date,
  heldTenants: ReadonlySet<string>,
  deleteObject: (storageKey: string) => Promise<void>,
  limit = 1000,
): Promise<number> {
  const due = await db
    .selectFrom('artifacts')
    .select(['id', 'tenant_id', 'storage_key'])
    .where('expires_at', '<=', now)
    .where('legal_hold', '=', false)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
  let deleted = 0;
  for (const r of due.filter((row) => !heldTenants.has(row.tenant_id))) {
    await db.transaction().execute(async (trx) => {
      await lockTenantArtifacts(trx, r.tenant_id);
      const gone = await trx.deleteFrom('artifacts').where('id', '=', r.id).where('tenant_id', '=', r.tenant_id).executeTakeFirst();
      deleted += Number(gone.numDeletedRows);
      const still = await trx
        .selectFrom('artifacts')
        .select('id')
        .where('tenant_id', '=', r.tenant_id)
        .where('storage_key', '=', r.storage_key)
        .limit(1)
        .executeTakeFirst();
      if (!still) await deleteObject(r.storage_key);
    });
  }
  return deleted;
}

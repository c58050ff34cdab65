/**
 * The artifacts table (0008_artifacts): which object of the store holds what,
 * for whom. The tenant is in every query; the bytes are in the object store
 * (storage/artifacts.ts writes both).
 */
import { sql } from 'kysely';
import type { ArtifactKind } from './artifact-tables.js';
import type { Db } from './client.js';
import type { ArtifactExpiry } from '../domain/maintenance-report.js';

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
  /** Default: the database's now(). */
  readonly createdAt?: Date;
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
      ...(row.createdAt ? { created_at: row.createdAt } : {}),
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

/**
 * A parked workspace (workflows/session-park.ts, activities/sandbox-evictor.ts) restored into its session's new
 * sandbox, where a call has run since: its park rows expire now (the maintenance pass deletes them, legal holds
 * aside), so moves do not fill the tenant's artifact quota. Rows already expiring sooner keep their time.
 */
export async function expireParkedWorkspace(db: Db, session: { tenantId: string; sessionId: string }, sha256: string, now = new Date()): Promise<number> {
  const result = await db
    .updateTable('artifacts')
    .set({ expires_at: now })
    .where('tenant_id', '=', session.tenantId)
    .where('session_id', '=', session.sessionId)
    .where('sha256', '=', sha256)
    .where((eb) => eb.or([eb('ref', 'like', 'workspace:park-%'), eb('ref', 'like', 'workspace:evicted:%')]))
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The newest artifact of a kind of a session (its workspace tarball), if any. */
export function latestSessionArtifact(db: Db, tenantId: string, sessionId: string, kind: ArtifactKind): Promise<ArtifactRow | undefined> {
  return newestSessionArtifact(db, tenantId, sessionId, { kind });
}

/**
 * Deletes the rows past their expiry that no legal hold keeps (the row's, its
 * session's in session_legal_holds, its tenant's in `heldTenants`), records
 * each in expired_artifacts, and deletes each object no row of the tenant uses
 * any more: bytes are content-addressed per tenant, so an object a newer,
 * unexpired row deduplicated onto stays. The object is deleted under the
 * tenant's artifact lock, so a save deduplicating onto it at the same time
 * waits and then finds no row and uploads it again.
 */
export async function expireArtifactRows(
  db: Db,
  now: Date,
  heldTenants: ReadonlySet<string>,
  deleteObject: (storageKey: string) => Promise<void>,
  limit = 1000,
): Promise<ArtifactExpiry> {
  const due = await db
    .selectFrom('artifacts as a')
    .select(['a.id', 'a.tenant_id', 'a.storage_key', 'a.legal_hold'])
    .select((eb) =>
      eb
        .exists(eb.selectFrom('session_legal_holds as h').select('h.session_id').whereRef('h.tenant_id', '=', 'a.tenant_id').whereRef('h.session_id', '=', 'a.session_id'))
        .as('session_held'),
    )
    .where('a.expires_at', '<=', now)
    .orderBy('a.expires_at')
    .limit(limit)
    .execute();
  let rows = 0;
  let objects = 0;
  let bytes = 0;
  let held = 0;
  for (const r of due) {
    if (r.legal_hold || r.session_held || heldTenants.has(r.tenant_id)) {
      held += 1;
      continue;
    }
    await db.transaction().execute(async (trx) => {
      await lockTenantArtifacts(trx, r.tenant_id);
      const gone = await trx
        .deleteFrom('artifacts')
        .where('id', '=', r.id)
        .where('tenant_id', '=', r.tenant_id)
        // A hold set since the select above wins.
        .where('legal_hold', '=', false)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('session_legal_holds as h').select('h.session_id').where('h.tenant_id', '=', r.tenant_id).whereRef('h.session_id', '=', 'artifacts.session_id'))))
        .returning(['session_id', 'sha256', 'kind', 'name', 'size_bytes', 'created_at'])
        .executeTakeFirst();
      if (!gone) return;
      rows += 1;
      await trx
        .insertInto('expired_artifacts')
        .values({ tenant_id: r.tenant_id, session_id: gone.session_id, sha256: gone.sha256, kind: gone.kind, name: gone.name, size_bytes: Number(gone.size_bytes), created_at: gone.created_at, expired_at: now })
        .execute();
      const still = await trx
        .selectFrom('artifacts')
        .select('id')
        .where('tenant_id', '=', r.tenant_id)
        .where('storage_key', '=', r.storage_key)
        .limit(1)
        .executeTakeFirst();
      if (still) return;
      await deleteObject(r.storage_key);
      objects += 1;
      bytes += Number(gone.size_bytes);
    });
  }
  return { rows, objects, bytes, held };
}

/** When the session's artifact with these bytes expired (the latest time), if it did and no live row has them. */
export async function expiredSessionArtifact(db: Db, tenantId: string, sessionId: string, sha256: string): Promise<{ expiredAt: Date; name: string } | undefined> {
  const row = await db
    .selectFrom('expired_artifacts')
    .select(['expired_at', 'name'])
    .where('tenant_id', '=', tenantId)
    .where('session_id', '=', sessionId)
    .where('sha256', '=', sha256)
    .orderBy('expired_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? { expiredAt: row.expired_at, name: row.name } : undefined;
}

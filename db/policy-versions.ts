/**
 * A tenant's own policies as immutable, content-addressed versions
 * (0006_policy_versions). Every query filters by tenant: another tenant's
 * policy does not exist here.
 */
import { sql } from 'kysely';
import type { Policy } from '../policies/schema.js';
import type { Db } from './client.js';
import { storableJson } from './storable.js';

/** How a version is named: `latest`, its number (`2`), or a sha256 prefix of 7 to 64 hex digits. */
export type VersionRef = { readonly kind: 'latest' } | { readonly kind: 'number'; readonly n: number } | { readonly kind: 'sha'; readonly prefix: string };

/** The grammar of a version reference; numbers stop at 6 digits so that a sha prefix (7+) is never read as one. */
export const VERSION_REF_PATTERN = /^(latest|[1-9][0-9]{0,5}|[0-9a-f]{7,64})$/;

export function parseVersionRef(ref: string): VersionRef | undefined {
  if (!VERSION_REF_PATTERN.test(ref)) return undefined;
  if (ref === 'latest') return { kind: 'latest' };
  return ref.length <= 6 ? { kind: 'number', n: Number(ref) } : { kind: 'sha', prefix: ref };
}

export interface PolicyVersion {
  readonly name: string;
  readonly version: number;
  readonly sha256: string;
  readonly yaml: string;
  /** The resolved policy (template merged in, defaults filled, durations in ms), as sessions pin it. */
  readonly policy: Policy;
  readonly extends: string | null;
  readonly author: string;
  readonly changeNote: string | null;
  readonly createdAt: Date;
}

export interface NewPolicyVersion {
  readonly tenantId: string;
  readonly name: string;
  readonly sha256: string;
  readonly yaml: string;
  readonly policy: Policy;
  readonly author: string;
  readonly changeNote: string | null;
}

function versionsOf(db: Db, tenantId: string) {
  return db
    .selectFrom('policy_versions as v')
    .innerJoin('tenant_policies as p', 'p.id', 'v.policy_id')
    .where('v.tenant_id', '=', tenantId)
    .where('p.tenant_id', '=', tenantId)
    .select(['p.name', 'v.version', 'v.sha256', 'v.yaml', 'v.policy', 'v.extends', 'v.author', 'v.change_note', 'v.created_at']);
}

type VersionRow = Awaited<ReturnType<ReturnType<typeof versionsOf>['execute']>>[number];

function present(row: VersionRow): PolicyVersion {
  return {
    name: row.name,
    version: row.version,
    sha256: row.sha256,
    yaml: row.yaml,
    // Written by savePolicyVersion after validation; never re-parsed (the schema's transforms would apply twice).
    policy: row.policy as Policy,
    extends: row.extends,
    author: row.author,
    changeNote: row.change_note,
    createdAt: row.created_at,
  };
}

/**
 * Saves a version; identical content (same sha256) returns the existing
 * version with `created: false`. The policy row is locked while the next
 * number is taken, so concurrent saves get distinct, gapless numbers.
 */
export async function savePolicyVersion(db: Db, input: NewPolicyVersion): Promise<{ version: PolicyVersion; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('tenant_policies')
      .values({ tenant_id: input.tenantId, name: input.name, created_by: input.author })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .execute();
    const policy = await trx
      .selectFrom('tenant_policies')
      .select('id')
      .where('tenant_id', '=', input.tenantId)
      .where('name', '=', input.name)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const existing = await versionsOf(trx, input.tenantId).where('v.policy_id', '=', policy.id).where('v.sha256', '=', input.sha256).executeTakeFirst();
    if (existing) return { version: present(existing), created: false };
    const { next } = await trx
      .selectFrom('policy_versions')
      .select(sql<number>`coalesce(max(version), 0) + 1`.as('next'))
      .where('tenant_id', '=', input.tenantId)
      .where('policy_id', '=', policy.id)
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('policy_versions')
      .values({
        policy_id: policy.id,
        tenant_id: input.tenantId,
        version: Number(next),
        sha256: input.sha256,
        yaml: input.yaml,
        policy: storableJson(input.policy),
        extends: input.policy.extends ?? null,
        author: input.author,
        change_note: input.changeNote,
      })
      .execute();
    const saved = await versionsOf(trx, input.tenantId).where('v.policy_id', '=', policy.id).where('v.version', '=', Number(next)).executeTakeFirstOrThrow();
    return { version: present(saved), created: true };
  });
}

/** The result of a lookup by reference: a sha prefix may name two versions. */
export type VersionLookup = { readonly version: PolicyVersion } | { readonly ambiguous: true } | undefined;

function pick(rows: VersionRow[]): VersionLookup {
  if (rows.length > 1) return { ambiguous: true };
  const [row] = rows;
  return row ? { version: present(row) } : undefined;
}

/** One version of the tenant's policy `name`. */
export async function findPolicyVersion(db: Db, tenantId: string, name: string, ref: VersionRef): Promise<VersionLookup> {
  let query = versionsOf(db, tenantId).where('p.name', '=', name);
  if (ref.kind === 'number') query = query.where('v.version', '=', ref.n);
  if (ref.kind === 'sha') query = query.where('v.sha256', 'like', `${ref.prefix}%`);
  return pick(await query.orderBy('v.version', 'desc').limit(ref.kind === 'sha' ? 2 : 1).execute());
}

/** A version of any of the tenant's policies by sha256 prefix. */
export async function findVersionBySha(db: Db, tenantId: string, prefix: string): Promise<VersionLookup> {
  return pick(await versionsOf(db, tenantId).where('v.sha256', 'like', `${prefix}%`).limit(2).execute());
}

/** The tenant's policies by name (after `after`), each with its newest version. */
export async function listTenantPolicies(db: Db, tenantId: string, options: { after?: string | undefined; limit: number }): Promise<PolicyVersion[]> {
  let query = versionsOf(db, tenantId).where('v.version', '=', sql<number>`(select max(w.version) from policy_versions w where w.policy_id = p.id)`);
  // Byte order (collate "C"), as the API merges these with the templates in JavaScript's string order.
  const name = sql<string>`p.name collate "C"`;
  if (options.after !== undefined) query = query.where(name, '>', options.after);
  return (await query.orderBy(name).limit(options.limit).execute()).map(present);
}

/** Versions of the tenant's policy, newest first, below version `before`. */
export async function listPolicyVersions(db: Db, tenantId: string, name: string, options: { before?: number | undefined; limit: number }): Promise<PolicyVersion[]> {
  let query = versionsOf(db, tenantId).where('p.name', '=', name);
  if (options.before !== undefined) query = query.where('v.version', '<', options.before);
  return (await query.orderBy('v.version', 'desc').limit(options.limit).execute()).map(present);
}

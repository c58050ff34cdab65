/**
 * A tenant's retention class and legal hold (tenant_retention). Tenants
 * without a row have RETENTION_DEFAULT_CLASS and no hold.
 */
import type { Db } from './client.js';
import type { RetentionClass, RetentionConfig } from '../config/retention.js';

export interface TenantRetention {
  readonly tenantId: string;
  readonly className: string;
  readonly retention: RetentionClass;
  readonly legalHold: boolean;
  readonly legalHoldReason: string | null;
}

export class UnknownRetentionClassError extends Error {
  override readonly name = 'UnknownRetentionClassError';
}
export class UnknownTenantError extends Error {
  override readonly name = 'UnknownTenantError';
}

function resolveClass(config: RetentionConfig, name: string): RetentionClass {
  // A class removed from RETENTION_CLASSES after tenants named it: the default applies, never "keep nothing".
  return config.RETENTION_CLASSES[name] ?? config.RETENTION_CLASSES[config.RETENTION_DEFAULT_CLASS]!;
}

/** The retention of a tenant without a row. */
export function defaultRetention(config: RetentionConfig): TenantRetention {
  const className = config.RETENTION_DEFAULT_CLASS;
  return { tenantId: '', className, retention: resolveClass(config, className), legalHold: false, legalHoldReason: null };
}

/** The retention of each tenant asked for (defaults for tenants without a row). */
export async function tenantRetentions(db: Db, config: RetentionConfig, tenantIds: readonly string[]): Promise<Map<string, TenantRetention>> {
  const rows = tenantIds.length === 0 ? [] : await db.selectFrom('tenant_retention').selectAll().where('tenant_id', 'in', [...tenantIds]).execute();
  const byTenant = new Map(rows.map((r) => [r.tenant_id, r]));
  return new Map(
    tenantIds.map((tenantId) => {
      const row = byTenant.get(tenantId);
      const className = row?.class ?? config.RETENTION_DEFAULT_CLASS;
      return [tenantId, { tenantId, className, retention: resolveClass(config, className), legalHold: row?.legal_hold ?? false, legalHoldReason: row?.legal_hold_reason ?? null }];
    }),
  );
}

export async function tenantRetention(db: Db, config: RetentionConfig, tenantId: string): Promise<TenantRetention> {
  return (await tenantRetentions(db, config, [tenantId])).get(tenantId)!;
}

/** Tenants under legal hold now. */
export async function heldTenants(db: Db): Promise<Set<string>> {
  const rows = await db.selectFrom('tenant_retention').select('tenant_id').where('legal_hold', '=', true).execute();
  return new Set(rows.map((r) => r.tenant_id));
}

export interface RetentionChange {
  readonly className?: string;
  /** true sets a hold (reason required), false lifts it. */
  readonly legalHold?: { readonly on: true; readonly reason: string } | { readonly on: false };
  readonly by: string;
}

/** Sets a tenant's class and/or hold; an unknown class or tenant is refused. */
export async function setTenantRetention(db: Db, config: RetentionConfig, tenantId: string, change: RetentionChange): Promise<TenantRetention> {
  if (change.className !== undefined && !(change.className in config.RETENTION_CLASSES)) {
    throw new UnknownRetentionClassError(`no retention class ${change.className} (known: ${Object.keys(config.RETENTION_CLASSES).join(', ')})`);
  }
  const tenant = await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
  if (!tenant) throw new UnknownTenantError(`no tenant ${tenantId}`);
  const current = await tenantRetention(db, config, tenantId);
  const hold = change.legalHold;
  const values = {
    tenant_id: tenantId,
    class: change.className ?? current.className,
    legal_hold: hold ? hold.on : current.legalHold,
    legal_hold_reason: hold ? (hold.on ? hold.reason : null) : current.legalHoldReason,
    updated_by: change.by,
    updated_at: new Date(),
  };
  await db
    .insertInto('tenant_retention')
    .values(values)
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ class: values.class, legal_hold: values.legal_hold, legal_hold_reason: values.legal_hold_reason, updated_by: values.updated_by, updated_at: values.updated_at }))
    .execute();
  return tenantRetention(db, config, tenantId);
}

/** When an artifact written at `createdAt` by this tenant expires under its class; null: never. */
export async function artifactExpiry(db: Db, config: RetentionConfig, tenantId: string, createdAt: Date): Promise<Date | null> {
  const { retention } = await tenantRetention(db, config, tenantId);
  return retention.artifactDays === null ? null : new Date(createdAt.getTime() + retention.artifactDays * 86_400_000);
}

export class UnknownSessionError extends Error {
  override readonly name = 'UnknownSessionError';
}

export interface SessionLegalHold {
  readonly tenantId: string;
  readonly sessionId: string;
  readonly reason: string;
  readonly heldBy: string;
  readonly heldAt: Date;
}

/** Sets (or updates the reason of) a legal hold on one session of the tenant: its artifacts stop expiring. */
export async function holdSession(db: Db, tenantId: string, sessionId: string, reason: string, by: string): Promise<SessionLegalHold> {
  const session = await db.selectFrom('sessions').select('id').where('tenant_id', '=', tenantId).where('id', '=', sessionId).executeTakeFirst();
  if (!session) throw new UnknownSessionError(`tenant ${tenantId} has no session ${sessionId}`);
  const row = await db
    .insertInto('session_legal_holds')
    .values({ tenant_id: tenantId, session_id: sessionId, reason, held_by: by })
    .onConflict((oc) => oc.columns(['tenant_id', 'session_id']).doUpdateSet({ reason, held_by: by }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return { tenantId: row.tenant_id, sessionId: row.session_id, reason: row.reason, heldBy: row.held_by, heldAt: row.held_at };
}

/** Lifts a session's legal hold; whether there was one. */
export async function releaseSession(db: Db, tenantId: string, sessionId: string): Promise<boolean> {
  const r = await db.deleteFrom('session_legal_holds').where('tenant_id', '=', tenantId).where('session_id', '=', sessionId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The tenant's held sessions. */
export async function heldSessions(db: Db, tenantId: string): Promise<SessionLegalHold[]> {
  const rows = await db.selectFrom('session_legal_holds').selectAll().where('tenant_id', '=', tenantId).orderBy('held_at').execute();
  return rows.map((row) => ({ tenantId: row.tenant_id, sessionId: row.session_id, reason: row.reason, heldBy: row.held_by, heldAt: row.held_at }));
}

/**
 * A tenant's fair-sharing limits (configured defaults, overridden per tenant
 * by a `tenant_limits` row) and the sandbox leases that let a claim on any
 * host count the sandboxes a tenant holds.
 */
import { sql } from 'kysely';
import type { Env } from '../config/index.js';
import type { Db } from './client.js';

export type TenantLimitConfig = Pick<
  Env,
  | 'TENANT_MAX_RUNNING_SESSIONS'
  | 'TENANT_MAX_SANDBOXES'
  | 'TENANT_MAX_SSE_STREAMS'
  | 'TENANT_REQUESTS_PER_SECOND'
  | 'TENANT_REQUEST_BURST'
  | 'TENANT_MAX_IDLE_TIMEOUT_SECONDS'
  | 'TENANT_MAX_ARTIFACT_BYTES'
  | 'TENANT_MAX_ARTIFACT_TOTAL_BYTES'
>;

export interface TenantLimits {
  readonly runningSessions: number;
  readonly sandboxes: number;
  readonly sseStreams: number;
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  readonly idleTimeoutSeconds: number;
  /** The largest one artifact (storage/artifacts.ts), and all of the tenant's artifacts together (each sha256 once). */
  readonly artifactBytes: number;
  readonly artifactTotalBytes: number;
}

export function defaultTenantLimits(config: TenantLimitConfig): TenantLimits {
  return {
    runningSessions: config.TENANT_MAX_RUNNING_SESSIONS,
    sandboxes: config.TENANT_MAX_SANDBOXES,
    sseStreams: config.TENANT_MAX_SSE_STREAMS,
    requestsPerSecond: config.TENANT_REQUESTS_PER_SECOND,
    requestBurst: config.TENANT_REQUEST_BURST,
    idleTimeoutSeconds: config.TENANT_MAX_IDLE_TIMEOUT_SECONDS,
    artifactBytes: config.TENANT_MAX_ARTIFACT_BYTES,
    artifactTotalBytes: config.TENANT_MAX_ARTIFACT_TOTAL_BYTES,
  };
}

/** The tenant's limits: its own row's values where set, the defaults elsewhere. */
export async function readTenantLimits(db: Db, tenantId: string, defaults: TenantLimits): Promise<TenantLimits> {
  const row = await db.selectFrom('tenant_limits').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
  if (!row) return defaults;
  return {
    runningSessions: row.running_sessions ?? defaults.runningSessions,
    sandboxes: row.sandboxes ?? defaults.sandboxes,
    sseStreams: row.sse_streams ?? defaults.sseStreams,
    requestsPerSecond: row.requests_per_second ?? defaults.requestsPerSecond,
    requestBurst: row.request_burst ?? defaults.requestBurst,
    idleTimeoutSeconds: row.idle_timeout_seconds ?? defaults.idleTimeoutSeconds,
    artifactBytes: row.artifact_bytes === null ? defaults.artifactBytes : Number(row.artifact_bytes),
    artifactTotalBytes: row.artifact_total_bytes === null ? defaults.artifactTotalBytes : Number(row.artifact_total_bytes),
  };
}

const COLUMNS = {
  runningSessions: 'running_sessions',
  sandboxes: 'sandboxes',
  sseStreams: 'sse_streams',
  requestsPerSecond: 'requests_per_second',
  requestBurst: 'request_burst',
  idleTimeoutSeconds: 'idle_timeout_seconds',
  artifactBytes: 'artifact_bytes',
  artifactTotalBytes: 'artifact_total_bytes',
} as const;

/** Sets some of a tenant's own limits (undefined leaves a value as it is, null returns it to the default). */
export async function setTenantLimits(db: Db, tenantId: string, limits: { [K in keyof TenantLimits]?: number | null }): Promise<void> {
  const values = Object.fromEntries(
    Object.entries(limits)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [COLUMNS[k as keyof TenantLimits], v]),
  );
  await db
    .insertInto('tenant_limits')
    .values({ tenant_id: tenantId, ...values })
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ ...values, updated_at: new Date() }))
    .execute();
}

/** Serialises one tenant's admissions (sessions, sandboxes) across API instances and workers, for the transaction. */
export async function lockTenant(trx: Db, tenantId: string, what: 'sessions' | 'sandboxes'): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`kortix:${what}:${tenantId}`}))`.execute(trx);
}

/** Sessions of the tenant that have not ended (running, waiting on a gate, or wedged: all hold capacity). */
export async function countRunningSessions(trx: Db, tenantId: string): Promise<number> {
  const { n } = await trx
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('ended_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(n);
}

export type SandboxAdmission = { admitted: true } | { admitted: false; held: number; limit: number };

/**
 * Records that `sessionId` holds a sandbox, unless the tenant already holds its limit (leases of
 * sessions that ended do not count, whatever became of their release). A session that holds one
 * already (a retried claim) is always admitted.
 */
export async function admitSandbox(db: Db, session: { tenantId: string; sessionId: string }, limit: number): Promise<SandboxAdmission> {
  return db.transaction().execute(async (trx) => {
    await lockTenant(trx, session.tenantId, 'sandboxes');
    const mine = await trx
      .selectFrom('sandbox_leases')
      .select('session_id')
      .where('tenant_id', '=', session.tenantId)
      .where('session_id', '=', session.sessionId)
      .executeTakeFirst();
    if (mine) return { admitted: true } as const;
    const { n } = await trx
      .selectFrom('sandbox_leases as l')
      .innerJoin('sessions as s', 's.id', 'l.session_id')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('l.tenant_id', '=', session.tenantId)
      .where('s.ended_at', 'is', null)
      .executeTakeFirstOrThrow();
    if (Number(n) >= limit) return { admitted: false, held: Number(n), limit } as const;
    await trx.insertInto('sandbox_leases').values({ session_id: session.sessionId, tenant_id: session.tenantId }).execute();
    return { admitted: true } as const;
  });
}

/** The session gave its sandbox back (released, or lost with its host). */
export async function endSandboxLease(db: Db, session: { tenantId: string; sessionId: string }): Promise<void> {
  await db.deleteFrom('sandbox_leases').where('tenant_id', '=', session.tenantId).where('session_id', '=', session.sessionId).execute();
}

/**
 * The outbox of workflow starts (0015_session_starts): written with the session row, deleted once Temporal has
 * the workflow. api/session-starter.ts drives it; every query but the sweep's names the tenant.
 */
import { sql, type Selectable, type Transaction } from 'kysely';
import type { Db } from './client.js';
import type { Database, SessionStartsTable } from './schema.js';

export interface SessionStartRow {
  readonly sessionId: string;
  readonly tenantId: string;
  readonly input: Uint8Array;
  readonly attempts: number;
  readonly lastError: string | null;
  /** How old it was when read, on Postgres's clock (the deadline counts from there, not on an API's clock). */
  readonly ageMs: number;
}

/** A row as Postgres answers it, with its age. */
type StoredStart = Selectable<SessionStartsTable> & { age_ms: number };

const ageMs = sql<number>`extract(epoch from now() - created_at)::float8 * 1000`;

/** Now plus `ms` on Postgres's clock: leases are compared with its now(), so API clocks that disagree do not matter. */
const dbNowPlus = (ms: number) => sql<Date>`now() + ${ms}::float8 * interval '1 millisecond'`;

/** In the admission transaction, beside the session row: the start is owned by the writer for `leaseMs`. */
export async function insertSessionStart(db: Db, start: { sessionId: string; tenantId: string; input: Uint8Array; leaseMs: number }): Promise<void> {
  await db
    .insertInto('session_starts')
    .values({ session_id: start.sessionId, tenant_id: start.tenantId, input: Buffer.from(start.input), next_attempt_at: dbNowPlus(start.leaseMs) })
    .execute();
}

/** Temporal has the workflow (or the session was given up): the start is done. Answers whether a row went. */
export async function deleteSessionStart(db: Db | Transaction<Database>, tenantId: string, sessionId: string): Promise<boolean> {
  const result = await db.deleteFrom('session_starts').where('session_id', '=', sessionId).where('tenant_id', '=', tenantId).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** The start of a session, and whether a try is due (its lease or backoff over, on Postgres's clock). */
export async function getSessionStart(db: Db, tenantId: string, sessionId: string): Promise<(SessionStartRow & { readonly due: boolean }) | undefined> {
  const row = await db
    .selectFrom('session_starts')
    .selectAll()
    .select([sql<boolean>`next_attempt_at <= now()`.as('due'), ageMs.as('age_ms')])
    .where('session_id', '=', sessionId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row ? { ...toRow(row), due: row.due } : undefined;
}

/**
 * Takes up to `limit` starts whose lease ran out, oldest due first, and leases them to the caller for
 * `leaseMs`: API instances sweeping at once take different rows (SKIP LOCKED), and a row taken here is not
 * taken again before its lease ends.
 */
export async function takeDueSessionStarts(db: Db, limit: number, leaseMs: number): Promise<SessionStartRow[]> {
  const rows = await sql<StoredStart>`
    update session_starts set next_attempt_at = ${dbNowPlus(leaseMs)}
    where session_id in (
      select session_id from session_starts where next_attempt_at <= now()
      order by next_attempt_at limit ${limit} for update skip locked
    )
    returning session_id, tenant_id, input, attempts, last_error, next_attempt_at, created_at, ${ageMs} as age_ms
  `.execute(db);
  return rows.rows.map(toRow);
}

/** A failed try: counted, its error kept, and the next one after a backoff doubling from `minMs` up to `maxMs`. */
export async function recordSessionStartFailure(db: Db, tenantId: string, sessionId: string, error: string, backoff: { minMs: number; maxMs: number }): Promise<void> {
  await db
    .updateTable('session_starts')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      last_error: error.slice(0, 2_000),
      next_attempt_at: sql<Date>`now() + least(${backoff.maxMs}::float8, ${backoff.minMs}::float8 * power(2, least(attempts, 30))) * interval '1 millisecond'`,
    }))
    .where('session_id', '=', sessionId)
    .where('tenant_id', '=', tenantId)
    .execute();
}

function toRow(row: StoredStart): SessionStartRow {
  return {
    sessionId: row.session_id,
    tenantId: row.tenant_id,
    input: new Uint8Array(row.input),
    attempts: row.attempts,
    lastError: row.last_error,
    ageMs: Math.max(0, row.age_ms),
  };
}

/** How many starts wait, and how long the oldest has (the API's scrape-time gauges, api/collectors.ts). */
export async function pendingSessionStarts(db: Db): Promise<{ count: number; oldestSeconds: number }> {
  const row = await sql<{ count: string; oldest: number | null }>`
    select count(*) as count, extract(epoch from now() - min(created_at))::float8 as oldest from session_starts
  `.execute(db);
  const first = row.rows[0];
  return { count: Number(first?.count ?? 0), oldestSeconds: Math.max(0, first?.oldest ?? 0) };
}

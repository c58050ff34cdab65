/** Session rows as the API reads them: always scoped to one tenant. */
import { sql } from 'kysely';
import { EVENT_TYPES } from '../domain/events.js';
import type { SessionUsage } from '../domain/session.js';
import type { Db } from './client.js';
import type { SessionStatus } from './schema.js';

export async function getSessionRow(db: Db, tenantId: string, sessionId: string) {
  return db.selectFrom('sessions').selectAll().where('id', '=', sessionId).where('tenant_id', '=', tenantId).executeTakeFirst();
}

export interface SessionPageCursor {
  readonly createdAt: string;
  readonly id: string;
}

/** Newest first, keyset-paginated on (created_at, id). */
export async function listSessionRows(
  db: Db,
  tenantId: string,
  options: { limit: number; cursor?: SessionPageCursor | undefined; status?: SessionStatus | undefined; agent?: string | undefined },
) {
  let query = db.selectFrom('sessions').selectAll().where('tenant_id', '=', tenantId);
  if (options.status) query = query.where('status', '=', options.status);
  if (options.agent) query = query.where('agent', '=', options.agent);
  if (options.cursor) {
    const { createdAt, id } = options.cursor;
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', new Date(createdAt)), eb.and([eb('created_at', '=', new Date(createdAt)), eb('id', '<', id)])]),
    );
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
}

/** Sessions whose `ended_at` is not set yet, by status: one grouped count over every tenant (the API's gauge). */
export async function countActiveSessionsByStatus(db: Db): Promise<{ status: SessionStatus; count: number }[]> {
  const rows = await db
    .selectFrom('sessions')
    .select((eb) => ['status', eb.fn.countAll<string>().as('n')])
    .where('ended_at', 'is', null)
    .groupBy('status')
    .execute();
  return rows.map((r) => ({ status: r.status, count: Number(r.n) }));
}

/**
 * What running sessions have used so far, from their events: the workflow adds each model answer's tokens and cost
 * (the `llm.response` event stores that answer, once per call: its key) and counts each tool call that ran (a
 * `tool.result` with `ran`). The row's `usage` is written at the end; this is the same sum while a session runs.
 * One grouped query for a page of sessions, on the partitions of their months only (`session_created_at`, as every
 * read of a session's events); a session without such events is absent from the map.
 */
export async function usageFromEvents(
  db: Db,
  tenantId: string,
  sessions: readonly { readonly id: string; readonly created_at: Date }[],
): Promise<Map<string, SessionUsage>> {
  if (sessions.length === 0) return new Map();
  const { llmResponse, toolResult } = EVENT_TYPES;
  const rows = await db
    .selectFrom('session_events')
    .select([
      'session_id',
      sql<string>`count(*) filter (where type = ${llmResponse})`.as('llm_calls'),
      sql<string>`coalesce(sum((data->>'inputTokens')::bigint) filter (where type = ${llmResponse}), 0)`.as('input_tokens'),
      sql<string>`coalesce(sum((data->>'outputTokens')::bigint) filter (where type = ${llmResponse}), 0)`.as('output_tokens'),
      // numeric: the stored decimals summed exactly, rounded as the workflow rounds its running sum.
      sql<string>`round(coalesce(sum((data->>'costUsd')::numeric) filter (where type = ${llmResponse}), 0), 8)`.as('cost_usd'),
      sql<string>`count(*) filter (where type = ${toolResult} and data->>'ran' = 'true')`.as('tool_calls'),
    ])
    .where('tenant_id', '=', tenantId)
    .where('session_id', 'in', sessions.map((row) => row.id))
    .where('session_created_at', 'in', sessions.map((row) => row.created_at))
    .where('type', 'in', [llmResponse, toolResult])
    .groupBy('session_id')
    .execute();
  return new Map(
    rows.map((row) => [
      row.session_id,
      {
        inputTokens: Number(row.input_tokens),
        outputTokens: Number(row.output_tokens),
        costUsd: Number(row.cost_usd),
        llmCalls: Number(row.llm_calls),
        toolCalls: Number(row.tool_calls),
      },
    ]),
  );
}

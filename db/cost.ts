/**
 * Cost reports read from the `llm_calls` ledger, always for one tenant. The
 * ledger is partitioned by month on `created_at`: every query bounds it, so
 * Postgres reads only the partitions of the period asked for. (A session's
 * calls: `ledgerRows` in db/llm-ledger.ts, bounded by the session's creation.)
 */
import { sql } from 'kysely';
import type { Db } from './client.js';

export const COST_GROUPS = ['day', 'agent', 'model'] as const;
export type CostGroup = (typeof COST_GROUPS)[number];

export interface CostBucket {
  key: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costUsd: number;
  savedUsd: number;
  cacheHits: number;
}

/**
 * The tenant's spend over [from, to), grouped by UTC day, by agent (the
 * session's agent; calls outside a session count as "-") or by model.
 */
export async function costByGroup(db: Db, tenantId: string, groupBy: CostGroup, from: Date, to: Date): Promise<CostBucket[]> {
  const key =
    groupBy === 'day'
      ? sql<string>`to_char(date_trunc('day', c.created_at at time zone 'UTC'), 'YYYY-MM-DD')`
      : groupBy === 'model'
        ? sql<string>`c.model`
        : sql<string>`coalesce(s.agent, '-')`;
  // The join reads sessions of this tenant only (its primary key plus the tenant check).
  const { rows } = await sql<{
    key: string;
    calls: string;
    input_tokens: string;
    output_tokens: string;
    cached_input_tokens: string;
    cost_usd: string;
    saved_usd: string;
    cache_hits: string;
  }>`
    select ${key} as key, count(*) as calls, sum(c.input_tokens) as input_tokens, sum(c.output_tokens) as output_tokens,
      sum(c.cached_input_tokens) as cached_input_tokens, sum(c.cost_usd) as cost_usd, sum(c.saved_usd) as saved_usd,
      count(*) filter (where c.cache_hit) as cache_hits
    from llm_calls c
    left join sessions s on s.id = c.session_id and s.tenant_id = c.tenant_id
    where c.tenant_id = ${tenantId} and c.created_at >= ${from} and c.created_at < ${to}
    group by 1
    order by 1
  `.execute(db);
  return rows.map((r) => ({
    key: r.key,
    calls: Number(r.calls),
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    cachedInputTokens: Number(r.cached_input_tokens),
    costUsd: Number(r.cost_usd),
    savedUsd: Number(r.saved_usd),
    cacheHits: Number(r.cache_hits),
  }));
}

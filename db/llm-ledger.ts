/**
 * The cost ledger in Postgres: one `llm_calls` row per router call, written in
 * the same statement that adds its cost to the tenant's spend and releases its
 * budget reservation, so the ledger and the budgets never disagree.
 */
import { sql } from 'kysely';
import { budgetPeriods, type LedgerEntry, type LedgerStore, type RouterStores } from '../router/stores.js';
import type { Db } from './client.js';
import { postgresBudgets } from './llm-budgets.js';
import { postgresCache } from './llm-cache.js';
import { postgresSemanticCache } from './llm-semantic-cache.js';

/** The router's LedgerStore on Postgres. */
export function postgresLedger(db: Db): LedgerStore {
  return {
    async record(entry, reservation) {
      const { day, month } = reservation ?? budgetPeriods(entry.createdAt);
      const cost = entry.costUsd;
      const spend = (period: 'day' | 'month', start: string) => sql`
        insert into llm_budget_usage (tenant_id, period, period_start, spent_usd)
        values (${entry.tenantId}, ${period}, ${start}::date, ${cost}::numeric)
        on conflict (tenant_id, period, period_start)
        do update set spent_usd = llm_budget_usage.spent_usd + excluded.spent_usd, updated_at = now()
        returning spent_usd`;
      const current = (period: 'day' | 'month', start: string) => sql`
        select spent_usd from llm_budget_usage where tenant_id = ${entry.tenantId} and period = ${period} and period_start = ${start}::date`;
      const { rows } = await sql<{ day_spent: string | null; month_spent: string | null }>`
        with released as (
          delete from llm_budget_reservations where id = ${reservation?.id ?? null}::uuid and tenant_id = ${entry.tenantId}
        ),
        day_spend as (${cost > 0 ? spend('day', day) : current('day', day)}),
        month_spend as (${cost > 0 ? spend('month', month) : current('month', month)}),
        call as (
          insert into llm_calls (
            id, created_at, tenant_id, session_id, kind, route, request_type, tier, provider, model, provider_model,
            input_tokens, output_tokens, cached_input_tokens, cost_usd, saved_usd, latency_ms, cache_hit, merged,
            fallback_used, downgraded_from, attempts, outcome, error_class, usage_estimated,
            semantic_cache, semantic_similarity
          ) values (
            ${entry.id}::uuid, ${entry.createdAt}, ${entry.tenantId}, ${entry.sessionId}, ${entry.kind}, ${entry.route},
            ${entry.requestType}, ${entry.tier}, ${entry.provider}, ${entry.model}, ${entry.providerModel},
            ${entry.inputTokens}, ${entry.outputTokens}, ${entry.cachedInputTokens}, ${entry.costUsd}::numeric,
            ${entry.savedUsd}::numeric, ${entry.latencyMs}, ${entry.cacheHit}, ${entry.merged}, ${entry.fallbackUsed},
            ${entry.downgradedFrom}, ${entry.attempts}, ${entry.outcome}, ${entry.errorClass}, ${entry.usageEstimated},
            ${entry.semanticCache}, ${entry.semanticSimilarity}::double precision
          )
        )
        select (select spent_usd from day_spend) as day_spent, (select spent_usd from month_spend) as month_spent
      `.execute(db);
      return { daySpentUsd: Number(rows[0]?.day_spent ?? 0), monthSpentUsd: Number(rows[0]?.month_spent ?? 0) };
    },
  };
}

/** Ledger rows as numbers, newest last: for reports and tests. */
export async function ledgerRows(db: Db, filter: { tenantId: string; sessionId?: string; since?: Date }): Promise<(Omit<LedgerEntry, 'costUsd' | 'savedUsd'> & { costUsd: number; savedUsd: number })[]> {
  let query = db.selectFrom('llm_calls').selectAll().where('tenant_id', '=', filter.tenantId);
  if (filter.sessionId !== undefined) query = query.where('session_id', '=', filter.sessionId);
  // A lower bound on the partition key: older months' partitions are not read.
  if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since);
  const rows = await query.orderBy('created_at').execute();
  return rows.map((r) => ({
    id: r.id,
    createdAt: r.created_at,
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    kind: r.kind as LedgerEntry['kind'],
    route: r.route,
    requestType: r.request_type,
    tier: r.tier as LedgerEntry['tier'],
    provider: r.provider,
    model: r.model,
    providerModel: r.provider_model,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    cachedInputTokens: r.cached_input_tokens,
    costUsd: Number(r.cost_usd),
    savedUsd: Number(r.saved_usd),
    latencyMs: r.latency_ms,
    cacheHit: r.cache_hit,
    merged: r.merged,
    fallbackUsed: r.fallback_used,
    downgradedFrom: r.downgraded_from,
    attempts: r.attempts,
    outcome: r.outcome as LedgerEntry['outcome'],
    errorClass: r.error_class,
    usageEstimated: r.usage_estimated,
    semanticCache: r.semantic_cache as LedgerEntry['semanticCache'],
    semanticSimilarity: r.semantic_similarity,
  }));
}

/** Ledger, budgets, the exact and the semantic cache of the router, all in Postgres. */
export function postgresRouterStores(db: Db): RouterStores {
  return { ledger: postgresLedger(db), budgets: postgresBudgets(db), cache: postgresCache(db), semantic: postgresSemanticCache(db) };
}

/**
 * Accounting of router calls: one ledger row per call (through the ledger
 * store, which also settles the tenant's spend and reservation) and the
 * Prometheus counters that go with it.
 */
import { randomUUID } from 'node:crypto';
import type { Metrics } from '../observability/metrics.js';
import { LlmError } from './errors.js';
import type { BudgetConfig } from './model-policy.js';
import type { CallOutcome, LedgerEntry, LedgerStore, Remaining, Reservation, SemanticLookup } from './stores.js';
import type { TokenUsage } from './types.js';

/** The router's metrics (observability/metrics.ts defines them). */
export type RouterMetrics = Pick<
  Metrics,
  'llmLatency' | 'llmRequests' | 'llmTokens' | 'llmCost' | 'llmCacheHits' | 'llmFallbacks' | 'tenantBudgetRemaining' | 'llmCacheSaved' | 'llmSemanticLookups' | 'llmSemanticSimilarity'
>;

/** What every row of one router call shares, and when the call started (performance.now()). */
export interface CallContext extends Pick<LedgerEntry, 'tenantId' | 'sessionId' | 'kind' | 'route' | 'requestType' | 'tier'> {
  readonly startedAt: number;
  /** The semantic cache's lookup before the call, recorded on the call's row (one per request). */
  readonly semantic?: { readonly lookup: SemanticLookup; readonly similarity: number | null } | undefined;
}

/** The parts of a row that differ per outcome. */
export interface CallFacts {
  readonly provider: string;
  readonly model: string;
  readonly providerModel: string;
  readonly outcome: CallOutcome;
  readonly usage?: TokenUsage | undefined;
  readonly costUsd?: number;
  readonly savedUsd?: number;
  readonly fallbackUsed?: boolean;
  readonly downgradedFrom?: string | null;
  readonly attempts?: number;
  readonly errorClass?: string | null;
  readonly usageEstimated?: boolean;
}

/** The ledger's outcome and error class of a failed call. */
export function outcomeOf(err: unknown): { outcome: 'error' | 'refused'; errorClass: string } {
  if (err instanceof LlmError) return { outcome: err.errorClass === 'budget_exceeded' ? 'refused' : 'error', errorClass: err.errorClass };
  return { outcome: 'error', errorClass: (err as Error)?.name === 'AbortError' ? 'cancelled' : 'internal' };
}

/** Writes ledger rows and counts them in the metrics. */
export class Accountant {
  readonly #ledger: LedgerStore;
  readonly #metrics: RouterMetrics | undefined;
  readonly #now: () => number;

  constructor(ledger: LedgerStore, metrics?: RouterMetrics, now: () => number = Date.now) {
    this.#ledger = ledger;
    this.#metrics = metrics;
    this.#now = now;
  }

  /** Writes the call's ledger row (settling `reservation`) and counts it. */
  async record(ctx: CallContext, facts: CallFacts, budget?: BudgetConfig, reservation?: Reservation): Promise<LedgerEntry> {
    const usage = facts.usage ?? { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 };
    const entry: LedgerEntry = {
      id: randomUUID(),
      createdAt: new Date(this.#now()),
      tenantId: ctx.tenantId,
      sessionId: ctx.sessionId,
      kind: ctx.kind,
      route: ctx.route,
      requestType: ctx.requestType,
      tier: ctx.tier,
      provider: facts.provider,
      model: facts.model,
      providerModel: facts.providerModel,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cachedInputTokens: usage.cachedInputTokens,
      costUsd: facts.costUsd ?? 0,
      savedUsd: facts.savedUsd ?? 0,
      latencyMs: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
      cacheHit: facts.outcome === 'cache_hit',
      merged: facts.outcome === 'merged',
      fallbackUsed: facts.fallbackUsed ?? false,
      downgradedFrom: facts.downgradedFrom ?? null,
      attempts: facts.attempts ?? 0,
      outcome: facts.outcome,
      errorClass: facts.errorClass ?? null,
      usageEstimated: facts.usageEstimated ?? false,
      semanticCache: ctx.semantic?.lookup ?? null,
      semanticSimilarity: ctx.semantic?.similarity ?? null,
    };
    const spent = await this.#ledger.record(entry, reservation);
    const m = this.#metrics;
    if (m) {
      m.llmRequests.inc({ provider: entry.provider, model: entry.model, outcome: entry.outcome });
      if (entry.outcome === 'ok') {
        m.llmTokens.inc({ direction: 'input' }, entry.inputTokens);
        m.llmTokens.inc({ direction: 'output' }, entry.outputTokens);
        m.llmTokens.inc({ direction: 'cached_input' }, entry.cachedInputTokens);
        m.llmCost.inc({ tenant: entry.tenantId, model: entry.model }, entry.costUsd);
      }
      if (entry.cacheHit) m.llmCacheHits.inc();
      if (entry.savedUsd > 0) m.llmCacheSaved.inc({ kind: entry.merged ? 'merged' : entry.semanticCache === 'hit' ? 'semantic' : 'exact' }, entry.savedUsd);
      if (entry.semanticCache !== null) {
        m.llmSemanticLookups.inc({ result: entry.semanticCache });
        if (entry.semanticSimilarity !== null) m.llmSemanticSimilarity.observe({ result: entry.semanticCache === 'hit' ? 'hit' : 'miss' }, entry.semanticSimilarity);
      }
      if (entry.fallbackUsed && entry.outcome === 'ok') m.llmFallbacks.inc();
      if (budget) this.budgetRemaining(entry.tenantId, budget, { dayUsd: budget.dailyUsd === undefined ? undefined : budget.dailyUsd - spent.daySpentUsd, monthUsd: budget.monthlyUsd === undefined ? undefined : budget.monthlyUsd - spent.monthSpentUsd });
    }
    return entry;
  }

  /** Sets tenant_budget_remaining_usd for the limits the tenant has. */
  budgetRemaining(tenantId: string, budget: BudgetConfig, remaining: Remaining): void {
    const gauge = this.#metrics?.tenantBudgetRemaining;
    if (!gauge) return;
    if (budget.dailyUsd !== undefined && remaining.dayUsd !== undefined) gauge.set({ tenant: tenantId, period: 'day' }, Math.max(0, remaining.dayUsd));
    if (budget.monthlyUsd !== undefined && remaining.monthUsd !== undefined) gauge.set({ tenant: tenantId, period: 'month' }, Math.max(0, remaining.monthUsd));
  }

  /** Observes one upstream call's latency. */
  latency(provider: string, model: string, ms: number): void {
    this.#metrics?.llmLatency.observe({ provider, model }, ms / 1000);
  }
}

/**
 * Prometheus metrics, names defined once. Each process (API, worker) builds
 * one registry; label sets are bounded (route templates, never raw paths).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_NAMES = {
  httpRequestsTotal: 'http_requests_total',
  httpRequestLatency: 'http_request_latency_seconds',
  llmLatency: 'llm_latency_seconds',
  llmRequestsTotal: 'llm_requests_total',
  llmTokensTotal: 'llm_tokens_total',
  llmCostUsdTotal: 'llm_cost_usd_total',
  llmCacheHitsTotal: 'llm_cache_hits_total',
  llmCacheSavedUsdTotal: 'llm_cache_saved_usd_total',
  llmSemanticCacheLookupsTotal: 'llm_semantic_cache_lookups_total',
  llmSemanticCacheSimilarity: 'llm_semantic_cache_similarity',
  llmFallbacksTotal: 'llm_fallbacks_total',
  tenantBudgetRemainingUsd: 'tenant_budget_remaining_usd',
  containerStartTime: 'container_start_time_seconds',
  sandboxPoolIdle: 'sandbox_pool_idle',
  sandboxPoolInUse: 'sandbox_pool_in_use',
  sandboxClaim: 'sandbox_claim_seconds',
  sandboxExec: 'sandbox_exec_seconds',
  sandboxOomKills: 'sandbox_oom_kills_total',
  sessionStart: 'session_start_seconds',
  sessionStartFailuresTotal: 'session_start_failures_total',
  failedTasksTotal: 'failed_tasks_total',
  tasksTotal: 'tasks_total',
  /** Computed at scrape in the API (api/collectors.ts). */
  agentActiveCount: 'agent_active_count',
  queueLength: 'queue_length',
  sessionStartsPending: 'session_starts_pending',
  sessionStartOldestPending: 'session_start_oldest_pending_seconds',
  collectorErrorsTotal: 'metrics_collector_errors_total',
} as const;

/**
 * Series of the Temporal SDK's own endpoint (WORKER_SDK_METRICS_PORT) that
 * the dashboards use; test/integration/prometheus.test.ts checks that a real
 * worker exports each of them.
 */
export const SDK_METRIC_NAMES = {
  workerTaskSlotsAvailable: 'temporal_worker_task_slots_available',
  workerTaskSlotsUsed: 'temporal_worker_task_slots_used',
  activityScheduleToStartBucket: 'temporal_activity_schedule_to_start_latency_bucket',
  workflowTaskScheduleToStartBucket: 'temporal_workflow_task_schedule_to_start_latency_bucket',
} as const;

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpLatency: Histogram<'route'>;
  readonly llmLatency: Histogram<'provider' | 'model'>;
  readonly llmRequests: Counter<'provider' | 'model' | 'outcome'>;
  readonly llmTokens: Counter<'direction'>;
  readonly llmCost: Counter<'tenant' | 'model'>;
  readonly llmCacheHits: Counter;
  /** What cache hits and merged calls saved, by kind: exact, semantic, merged. */
  readonly llmCacheSaved: Counter<'kind'>;
  /** Semantic cache lookups by result: hit, miss, skipped, error. */
  readonly llmSemanticLookups: Counter<'result'>;
  /** The best similarity of each semantic lookup that had a candidate. */
  readonly llmSemanticSimilarity: Histogram<'result'>;
  readonly llmFallbacks: Counter;
  readonly tenantBudgetRemaining: Gauge<'tenant' | 'period'>;
  readonly containerStart: Histogram;
  readonly sandboxPoolIdle: Gauge;
  readonly sandboxPoolInUse: Gauge;
  /** hit: an idle warm container; miss: a cold start or a wait for one. */
  readonly sandboxClaim: Histogram<'result'>;
  readonly sandboxExec: Histogram;
  readonly sandboxOomKills: Counter;
  readonly sessionStart: Histogram;
  readonly sessionStartFailures: Counter<'outcome'>;
  readonly failedTasks: Counter<'kind'>;
  /** Every attempt of the work that failed_tasks_total counts the failures of (same `kind`s): the denominator of the failure rate. */
  readonly tasks: Counter<'kind'>;
}

export function createMetrics(options: { service: string; defaultMetrics?: boolean }): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: METRIC_NAMES.httpRequestsTotal,
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpLatency: new Histogram({
      name: METRIC_NAMES.httpRequestLatency,
      help: 'HTTP request latency by route template',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    llmLatency: new Histogram({
      name: METRIC_NAMES.llmLatency,
      help: 'Model call latency by provider and model',
      labelNames: ['provider', 'model'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60],
      registers: [registry],
    }),
    llmRequests: new Counter({
      name: METRIC_NAMES.llmRequestsTotal,
      help: 'Model router calls by provider, model and outcome (ok, cache_hit, merged, error, refused)',
      labelNames: ['provider', 'model', 'outcome'],
      registers: [registry],
    }),
    llmTokens: new Counter({
      name: METRIC_NAMES.llmTokensTotal,
      help: 'Tokens billed by providers, by direction (input, output, cached_input)',
      labelNames: ['direction'],
      registers: [registry],
    }),
    llmCost: new Counter({
      name: METRIC_NAMES.llmCostUsdTotal,
      help: 'Model spend in USD from the price table, by tenant and model',
      labelNames: ['tenant', 'model'],
      registers: [registry],
    }),
    llmCacheHits: new Counter({ name: METRIC_NAMES.llmCacheHitsTotal, help: 'Model calls answered from the cache', registers: [registry] }),
    llmCacheSaved: new Counter({
      name: METRIC_NAMES.llmCacheSavedUsdTotal,
      help: 'USD not spent thanks to cache hits and merged calls, by kind (exact, semantic, merged)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    llmSemanticLookups: new Counter({
      name: METRIC_NAMES.llmSemanticCacheLookupsTotal,
      help: 'Semantic cache lookups by result (hit, miss, skipped, error)',
      labelNames: ['result'],
      registers: [registry],
    }),
    llmSemanticSimilarity: new Histogram({
      name: METRIC_NAMES.llmSemanticCacheSimilarity,
      help: 'Best cosine similarity found by a semantic cache lookup, by result (hit, miss)',
      labelNames: ['result'],
      buckets: [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 1],
      registers: [registry],
    }),
    llmFallbacks: new Counter({ name: METRIC_NAMES.llmFallbacksTotal, help: 'Model calls answered by a fallback deployment', registers: [registry] }),
    tenantBudgetRemaining: new Gauge({
      name: METRIC_NAMES.tenantBudgetRemainingUsd,
      help: "What is left of a tenant's model budget in USD, by period (day, month)",
      labelNames: ['tenant', 'period'],
      registers: [registry],
    }),
    containerStart: new Histogram({
      name: METRIC_NAMES.containerStartTime,
      help: 'Time to create and start a sandbox container',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5],
      registers: [registry],
    }),
    sandboxPoolIdle: new Gauge({
      name: METRIC_NAMES.sandboxPoolIdle,
      help: 'Warm sandbox containers waiting for a session on this host',
      registers: [registry],
    }),
    sandboxPoolInUse: new Gauge({
      name: METRIC_NAMES.sandboxPoolInUse,
      help: 'Sandbox containers held by a session on this host',
      registers: [registry],
    }),
    sandboxClaim: new Histogram({
      name: METRIC_NAMES.sandboxClaim,
      help: 'Time to claim a sandbox: hit (a warm container) or miss (a cold start or a wait)',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30],
      registers: [registry],
    }),
    sandboxExec: new Histogram({
      name: METRIC_NAMES.sandboxExec,
      help: 'Time to run one shell tool call in a sandbox, end to end',
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120],
      registers: [registry],
    }),
    sandboxOomKills: new Counter({
      name: METRIC_NAMES.sandboxOomKills,
      help: 'Processes killed in sandboxes for exceeding their memory limit',
      registers: [registry],
    }),
    sessionStart: new Histogram({
      name: METRIC_NAMES.sessionStart,
      help: 'From POST /v1/sessions writing the session to Temporal accepting its workflow start (api/session-starter.ts)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300],
      registers: [registry],
    }),
    sessionStartFailures: new Counter({
      name: METRIC_NAMES.sessionStartFailuresTotal,
      help: 'Workflow starts that failed: retry (tried again later) or given_up (the session fails)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    failedTasks: new Counter({
      name: METRIC_NAMES.failedTasksTotal,
      help: 'Activities that failed, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    tasks: new Counter({
      name: METRIC_NAMES.tasksTotal,
      help: 'Activity attempts that did the work (a model call: llm, a tool run: sandbox), by kind; failed_tasks_total counts the failed ones',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

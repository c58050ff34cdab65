/**
 * The attempt/fallback loop of one chat request: the route's deployments in
 * order, skipping those cooling down; for each, the prompt it can take, a
 * budget reservation (or the budget's downgrade), the call with retries, and
 * on a failure the fallbacks of its error class. The answer writes one ledger
 * row and, for the primary deployment, the cache.
 */
import type { Logger } from '../observability/logger.js';
import { outcomeOf, type Accountant, type CallContext } from './accounting.js';
import { withRetries, type AttemptCounter } from './attempts.js';
import type { Cooldowns } from './cooldown.js';
import { budgetExceeded, LlmError, type LlmErrorClass } from './errors.js';
import { budgetFor, isFree, modelOf, type BudgetConfig, type FallbackClass, type ModelConfig } from './model-policy.js';
import { maxOutputFor, promptFor } from './prepare.js';
import { callCostUsd, maxCallCostUsd } from './pricing.js';
import type { ProviderRegistry } from './providers/registry.js';
import type { Executed, Prepared, RouteRequest } from './route-types.js';
import type { Reservation, RouterStores } from './stores.js';
import type { ChatAnswer } from './types.js';

/** The fallbacks an error class moves to (`unavailable` takes the `server_error` ones); undefined: none. */
function chainOf(errorClass: LlmErrorClass): FallbackClass | undefined {
  if (errorClass === 'unavailable') return 'server_error';
  return errorClass === 'rate_limit' || errorClass === 'timeout' || errorClass === 'server_error' || errorClass === 'context_window' || errorClass === 'model_missing'
    ? errorClass
    : undefined;
}

/** What the fallback chain calls and records with. */
export interface FallbackChainDeps {
  readonly stores: RouterStores;
  readonly accountant: Accountant;
  readonly registry: ProviderRegistry;
  readonly cooldowns: Cooldowns;
  readonly logger: Logger | undefined;
  /** The default upstream timeout, for budget reservations' time to live. */
  readonly timeoutMs: number;
}

/** The upstream part: budget, deployments with retries, cooldown and fallbacks, ledger and cache. */
export async function runFallbackChain(
  deps: FallbackChainDeps,
  p: Prepared,
  request: RouteRequest,
  ctx: CallContext,
  signal: AbortSignal | undefined,
  cacheKey: string | undefined,
): Promise<Executed> {
  const { policy } = p;
  const margin = policy.context.estimateMargin;
  const budget: BudgetConfig | undefined = budgetFor(policy, request.tenantId);
  const counter: AttemptCounter = { count: 0 };
  const queue = [p.model];
  const queued = new Set(queue);
  const enqueue = (cls: LlmErrorClass) => {
    const chain = chainOf(cls);
    for (const key of (chain && p.route.fallbacks[chain]) || []) {
      if (!queued.has(key)) {
        queued.add(key);
        queue.push(key);
      }
    }
  };
  let downgradedFrom: string | null = null;
  let downgradeTo: string | undefined;
  let lastError: LlmError | undefined;
  let lastKey = p.model;
  let soonestCoolingMs: number | undefined;
  let upstreamMs = 0;
  const primary = policy.models[p.model] as ModelConfig;
  const fail = async (err: unknown, key: string): Promise<never> => {
    const m = modelOf(policy, key) ?? primary;
    await deps.accountant.record(ctx, { model: key, provider: m.provider, providerModel: m.model, ...outcomeOf(err), attempts: counter.count, downgradedFrom });
    throw err;
  };

  for (let i = 0; i < queue.length; i++) {
    const key = queue[i] as string;
    const model = policy.models[key] as ModelConfig;
    const deployment = `${model.provider}/${model.model}`;
    const cooling = deps.cooldowns.cooling(deployment);
    if (cooling) {
      soonestCoolingMs = Math.min(soonestCoolingMs ?? Infinity, cooling.remainingMs);
      enqueue(cooling.errorClass);
      continue;
    }
    const prompt = promptFor(p, request, model);
    if (!prompt) continue;
    const maxOutputTokens = maxOutputFor(model, request);

    let reservation: Reservation | undefined;
    if (budget && !isFree(model)) {
      const amount = maxCallCostUsd({ ...model, maxOutputTokens }, prompt.promptTokens, margin);
      const ttlSeconds = Math.ceil(((policy.providers[model.provider]?.timeoutMs ?? deps.timeoutMs) * (policy.retries.maxRetries + 1)) / 1000) + 60;
      const r = await deps.stores.budgets.reserve(request.tenantId, amount, budget, ttlSeconds);
      if (!r.ok) {
        const refusal = budgetExceeded(request.tenantId, r, key, amount);
        const action = budget.onExceeded;
        // The budget's action applies once, at the first refusal: downgrade to the named model, else refuse.
        if (downgradeTo === undefined && action.action === 'downgrade' && action.model !== key) {
          deps.logger?.info('budget exceeded: downgrading', { tenant: request.tenantId, from: key, to: action.model, period: r.period });
          downgradedFrom = key;
          downgradeTo = action.model;
          queue.splice(i + 1, 0, action.model);
          queued.add(action.model);
          continue;
        }
        return fail(refusal, key);
      }
      reservation = r.reservation;
      deps.accountant.budgetRemaining(request.tenantId, budget, r.remaining);
    }

    const provider = deps.registry.get(policy, model.provider);
    const t0 = performance.now();
    let answer: ChatAnswer;
    try {
      answer = await withRetries(
        () =>
          provider.complete({
            model: model.model,
            messages: prompt.messages,
            maxOutputTokens,
            stream: model.stream || request.onDelta !== undefined,
            ...(request.tools ? { tools: request.tools } : {}),
            ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
            ...(request.metadata ? { metadata: request.metadata } : {}),
            ...(request.onDelta ? { onDelta: request.onDelta } : {}),
            ...(signal ? { signal } : {}),
          }),
        policy.retries,
        counter,
        signal,
        (e) => {
          // Every failed upstream request counts towards the deployment's cooldown.
          if (e.retryable && deps.cooldowns.failure(deployment, e.errorClass, policy.cooldown, e.details.retryAfterMs)) {
            deps.logger?.warn('deployment cooling down', { deployment, errorClass: e.errorClass, cooldownSeconds: policy.cooldown.cooldownSeconds });
          }
        },
      );
    } catch (err) {
      upstreamMs += performance.now() - t0;
      if (reservation) await deps.stores.budgets.release(reservation).catch(() => undefined);
      if (!(err instanceof LlmError)) return fail(err, key);
      lastError = err;
      lastKey = key;
      if (err.details.partial && request.onDelta) break;
      if (chainOf(err.errorClass) === undefined) break;
      enqueue(err.errorClass);
      continue;
    }
    const took = performance.now() - t0;
    upstreamMs += took;
    deps.accountant.latency(model.provider, key, took);
    deps.cooldowns.success(deployment);
    const costUsd = callCostUsd(model, answer.usage);
    const fallbackUsed = key !== p.model && key !== downgradeTo;
    await deps.accountant.record(
      ctx,
      {
        model: key,
        provider: model.provider,
        providerModel: model.model,
        outcome: 'ok',
        usage: answer.usage,
        costUsd,
        fallbackUsed,
        downgradedFrom,
        attempts: counter.count,
        usageEstimated: answer.usageEstimated ?? false,
      },
      budget,
      reservation,
    );
    const cacheable = key === p.model && prompt.messages === p.messages;
    if (cacheKey !== undefined && cacheable) {
      await deps.stores.cache
        .put(request.tenantId, cacheKey, { answer, model: key, provider: model.provider, providerModel: model.model, costUsd }, p.route.cache.ttlSeconds)
        .catch((err: unknown) => deps.logger?.warn('model cache write failed', { error: (err as Error).message }));
    }
    return { answer, model: key, config: model, costUsd, attempts: counter.count, fallbackUsed, downgradedFrom, upstreamMs, promptTokens: prompt.promptTokens, cacheable };
  }
  const error =
    lastError ??
    (soonestCoolingMs !== undefined
      ? new LlmError('unavailable', `every deployment of route ${p.route.name} is cooling down`, { retryAfterMs: Math.ceil(soonestCoolingMs) })
      : new LlmError('context_window', `no deployment of route ${p.route.name} can take a prompt of ~${p.promptTokens} tokens`));
  return fail(error, lastKey);
}

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
import { budgetFor, isFree, modelOf, type BudgetConfig, type FallbackClass, type ModelConfig, type ResolvedModelPolicy } from './model-policy.js';
import { maxOutputFor, promptFor } from './prepare.js';
import { callCostUsd, maxCallCostUsd } from './pricing.js';
import type { ProviderRegistry } from './providers/registry.js';
import type { Executed, Prepared, RouteRequest } from './route-types.js';
import type { Reservation, RouterStores } from './stores.js';
import type { ChatAnswer, ChatMessage } from './types.js';

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

/** One request's run through the chain. */
export interface FallbackChainRun {
  readonly prepared: Prepared;
  readonly request: RouteRequest;
  /** What the run's ledger row shares with the request's other rows. */
  readonly ctx: CallContext;
  /** Cancels upstream calls and retry waits (a merged call's own signal, not one caller's). */
  readonly signal: AbortSignal | undefined;
  /** Where the primary deployment's answer is cached; undefined: the request is not cacheable. */
  readonly cacheKey: string | undefined;
}

/** The upstream part: budget, deployments with retries, cooldown and fallbacks, ledger and cache. */
export function runFallbackChain(deps: FallbackChainDeps, run: FallbackChainRun): Promise<Executed> {
  return new FallbackChain(deps, run).run();
}

/**
 * The models still to try, in order. Fallbacks join at the end, each model
 * once per run; the budget's downgrade is tried next, ahead of them.
 */
class AttemptQueue {
  readonly #pending: string[];
  readonly #queued: Set<string>;

  constructor(first: string) {
    this.#pending = [first];
    this.#queued = new Set(this.#pending);
  }

  /** The next model to try (taken off the queue); undefined when none is left. */
  next(): string | undefined {
    return this.#pending.shift();
  }

  /** Appends the models not queued yet in this run. */
  append(keys: readonly string[]): void {
    for (const key of keys) {
      if (this.#queued.has(key)) continue;
      this.#queued.add(key);
      this.#pending.push(key);
    }
  }

  /** Puts `key` first, whether or not it is queued already (the budget's downgrade replaces the refused model). */
  putNext(key: string): void {
    this.#queued.add(key);
    this.#pending.unshift(key);
  }
}

/** What one model's turn led to: the answer, the next model, or the end of the chain (its last error stands). */
type Turn = Executed | 'next' | 'stop';

/** One request's state through the chain: what was tried, what failed, what the budget changed. */
class FallbackChain {
  readonly #deps: FallbackChainDeps;
  readonly #run: FallbackChainRun;
  readonly #policy: ResolvedModelPolicy;
  readonly #budget: BudgetConfig | undefined;
  readonly #queue: AttemptQueue;
  /** Upstream requests across every deployment and retry. */
  readonly #counter: AttemptCounter = { count: 0 };
  #downgradedFrom: string | null = null;
  #downgradeTo: string | undefined;
  #lastError: LlmError | undefined;
  #lastKey: string;
  #soonestCoolingMs: number | undefined;
  #upstreamMs = 0;

  constructor(deps: FallbackChainDeps, run: FallbackChainRun) {
    this.#deps = deps;
    this.#run = run;
    this.#policy = run.prepared.policy;
    this.#budget = budgetFor(this.#policy, run.request.tenantId);
    this.#queue = new AttemptQueue(run.prepared.model);
    this.#lastKey = run.prepared.model;
  }

  async run(): Promise<Executed> {
    for (let key = this.#queue.next(); key !== undefined; key = this.#queue.next()) {
      const turn = await this.#turn(key);
      if (turn === 'stop') break;
      if (turn !== 'next') return turn;
    }
    return this.#fail(this.#finalError(), this.#lastKey);
  }

  /** One model: skipped while cooling down or when the prompt cannot fit, else reserved for and called. */
  async #turn(key: string): Promise<Turn> {
    const { prepared: p, request } = this.#run;
    const model = this.#policy.models[key] as ModelConfig;
    const deployment = `${model.provider}/${model.model}`;
    const cooling = this.#deps.cooldowns.cooling(deployment);
    if (cooling) {
      this.#soonestCoolingMs = Math.min(this.#soonestCoolingMs ?? Infinity, cooling.remainingMs);
      this.#enqueueFallbacks(cooling.errorClass);
      return 'next';
    }
    const prompt = promptFor(p, request, model);
    if (!prompt) return 'next';
    const maxOutputTokens = maxOutputFor(model, request);
    const reserved = await this.#reserve(key, model, prompt.promptTokens, maxOutputTokens);
    if (reserved === 'downgraded') return 'next';

    const t0 = performance.now();
    let answer: ChatAnswer;
    try {
      answer = await this.#call(model, deployment, prompt.messages, maxOutputTokens);
    } catch (err) {
      this.#upstreamMs += performance.now() - t0;
      if (reserved.reservation) await this.#deps.stores.budgets.release(reserved.reservation).catch(() => undefined);
      return this.#failed(err, key);
    }
    const took = performance.now() - t0;
    this.#upstreamMs += took;
    this.#deps.accountant.latency(model.provider, key, took);
    this.#deps.cooldowns.success(deployment);
    return this.#answered(key, model, answer, prompt, reserved.reservation);
  }

  /**
   * Sets the call's most possible cost aside from the tenant's budget. A
   * refusal applies the budget's action once, at the first refusal: a
   * downgrade queues the named model next; otherwise the run ends refused.
   */
  async #reserve(key: string, model: ModelConfig, promptTokens: number, maxOutputTokens: number): Promise<{ reservation: Reservation | undefined } | 'downgraded'> {
    const budget = this.#budget;
    if (!budget || isFree(model)) return { reservation: undefined };
    const { tenantId } = this.#run.request;
    const policy = this.#policy;
    const amount = maxCallCostUsd({ ...model, maxOutputTokens }, promptTokens, policy.context.estimateMargin);
    // Held for as long as every retry of the call can take, and a minute more.
    const ttlSeconds = Math.ceil(((policy.providers[model.provider]?.timeoutMs ?? this.#deps.timeoutMs) * (policy.retries.maxRetries + 1)) / 1000) + 60;
    const r = await this.#deps.stores.budgets.reserve(tenantId, amount, budget, ttlSeconds);
    if (r.ok) {
      this.#deps.accountant.budgetRemaining(tenantId, budget, r.remaining);
      return { reservation: r.reservation };
    }
    const action = budget.onExceeded;
    if (this.#downgradeTo === undefined && action.action === 'downgrade' && action.model !== key) {
      this.#deps.logger?.info('budget exceeded: downgrading', { tenant: tenantId, from: key, to: action.model, period: r.period });
      this.#downgradedFrom = key;
      this.#downgradeTo = action.model;
      this.#queue.putNext(action.model);
      return 'downgraded';
    }
    return this.#fail(budgetExceeded(tenantId, r, key, amount), key);
  }

  /** The upstream call with the policy's retries; every failed request counts towards the deployment's cooldown. */
  #call(model: ModelConfig, deployment: string, messages: readonly ChatMessage[], maxOutputTokens: number): Promise<ChatAnswer> {
    const { prepared: p, request, signal } = this.#run;
    const policy = this.#policy;
    const provider = this.#deps.registry.get(policy, model.provider);
    return withRetries(
      () =>
        provider.complete({
          model: model.model,
          messages,
          maxOutputTokens,
          stream: model.stream || request.onDelta !== undefined,
          ...(request.tools ? { tools: request.tools } : {}),
          ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
          ...(request.metadata ? { metadata: request.metadata } : {}),
          ...(request.onDelta ? { onDelta: request.onDelta } : {}),
          ...(signal ? { signal } : {}),
        }),
      policy.retries,
      this.#counter,
      signal,
      (e) => {
        if (e.retryable && this.#deps.cooldowns.failure(deployment, e.errorClass, policy.cooldown, e.details.retryAfterMs)) {
          this.#deps.logger?.warn('deployment cooling down', { deployment, errorClass: e.errorClass, cooldownSeconds: policy.cooldown.cooldownSeconds });
        }
      },
    );
  }

  /** A failed call: its error class's fallbacks are queued, or the chain ends. */
  async #failed(err: unknown, key: string): Promise<Turn> {
    if (!(err instanceof LlmError)) return this.#fail(err, key);
    this.#lastError = err;
    this.#lastKey = key;
    // A stream that reached the caller cannot be replayed by another deployment.
    if (err.details.partial && this.#run.request.onDelta) return 'stop';
    if (chainOf(err.errorClass) === undefined) return 'stop';
    this.#enqueueFallbacks(err.errorClass);
    return 'next';
  }

  /** The answer's ledger row (settling the reservation) and, for the route's own model and prompt, the cache. */
  async #answered(key: string, model: ModelConfig, answer: ChatAnswer, prompt: { messages: readonly ChatMessage[]; promptTokens: number }, reservation: Reservation | undefined): Promise<Executed> {
    const { prepared: p, request, ctx, cacheKey } = this.#run;
    const costUsd = callCostUsd(model, answer.usage);
    const fallbackUsed = key !== p.model && key !== this.#downgradeTo;
    const attempts = this.#counter.count;
    const downgradedFrom = this.#downgradedFrom;
    await this.#deps.accountant.record(
      ctx,
      { model: key, provider: model.provider, providerModel: model.model, outcome: 'ok', usage: answer.usage, costUsd, fallbackUsed, downgradedFrom, attempts, usageEstimated: answer.usageEstimated ?? false },
      this.#budget,
      reservation,
    );
    const cacheable = key === p.model && prompt.messages === p.messages;
    if (cacheKey !== undefined && cacheable) {
      await this.#deps.stores.cache
        .put(request.tenantId, cacheKey, { answer, model: key, provider: model.provider, providerModel: model.model, costUsd }, p.route.cache.ttlSeconds)
        .catch((err: unknown) => this.#deps.logger?.warn('model cache write failed', { error: (err as Error).message }));
    }
    return { answer, model: key, config: model, costUsd, attempts, fallbackUsed, downgradedFrom, upstreamMs: this.#upstreamMs, promptTokens: prompt.promptTokens, cacheable };
  }

  #enqueueFallbacks(errorClass: LlmErrorClass): void {
    const chain = chainOf(errorClass);
    this.#queue.append((chain && this.#run.prepared.route.fallbacks[chain]) || []);
  }

  /** Why the chain ended without an answer: the last call's error, else every deployment cooling down, else no room for the prompt. */
  #finalError(): LlmError {
    const p = this.#run.prepared;
    if (this.#lastError) return this.#lastError;
    if (this.#soonestCoolingMs !== undefined) {
      return new LlmError('unavailable', `every deployment of route ${p.route.name} is cooling down`, { retryAfterMs: Math.ceil(this.#soonestCoolingMs) });
    }
    return new LlmError('context_window', `no deployment of route ${p.route.name} can take a prompt of ~${p.promptTokens} tokens`);
  }

  /** Writes the failed run's ledger row, then throws `err`. */
  async #fail(err: unknown, key: string): Promise<never> {
    const m = modelOf(this.#policy, key) ?? (this.#policy.models[this.#run.prepared.model] as ModelConfig);
    await this.#deps.accountant.record(this.#run.ctx, { model: key, provider: m.provider, providerModel: m.model, ...outcomeOf(err), attempts: this.#counter.count, downgradedFrom: this.#downgradedFrom });
    throw err;
  }
}

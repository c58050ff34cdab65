/**
 * The model router: a library inside the LLM activity. For each request it
 * estimates the prompt's tokens and complexity, picks a route (first match
 * wins), guards the context window, answers from the tenant's cache or joins
 * an identical call in flight, reserves budget, calls the deployment with
 * retries, cooldown and fallbacks per error class, and writes one ledger row.
 */
import type { Logger } from '../observability/logger.js';
import { Accountant, outcomeOf, type CallContext, type RouterMetrics } from './accounting.js';
import { withRetries, type AttemptCounter } from './attempts.js';
import { requestKey } from './cache-key.js';
import { estimateTier } from './complexity.js';
import { fits, planSummary, promptLimit, summaryMessage, summaryPrompt, trimTranscript } from './context-guard.js';
import { Cooldowns } from './cooldown.js';
import { Embedder, type EmbedResult, type EmbedRouteRequest } from './embeddings.js';
import { budgetExceeded, LlmError, type LlmErrorClass } from './errors.js';
import { InFlight } from './inflight.js';
import {
  budgetFor,
  isFree,
  modelOf,
  TIERS,
  type BudgetConfig,
  type ContextOverflow,
  type FallbackClass,
  type ModelConfig,
  type ResolvedModelPolicy,
  type Route,
  type Tier,
} from './model-policy.js';
import { staticPolicy, type PolicySource } from './policy-store.js';
import { callCostUsd, maxCallCostUsd } from './pricing.js';
import { ProviderRegistry } from './providers/registry.js';
import { matchRoute } from './routing.js';
import { MemoryRouterStore, type Reservation, type RouterStores } from './stores.js';
import { estimatePromptTokens } from './tokens.js';
import type { ChatAnswer, ChatMessage, ChatProvider, TokenUsage } from './types.js';

export { callCostUsd } from './pricing.js';
export type { RouterMetrics } from './accounting.js';
export type { EmbedResult, EmbedRouteRequest } from './embeddings.js';

export interface RouteRequest {
  readonly tenantId: string;
  readonly sessionId?: string | undefined;
  /** Matched by routes' `match.requestType` (simple, research, ...). */
  readonly requestType?: string | undefined;
  /** A model of the policy's table, chosen explicitly; wins over the routes. */
  readonly model?: string | undefined;
  /** The request's complexity tier; estimated from the prompt when not given. */
  readonly tier?: Tier | undefined;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly unknown[];
  readonly metadata?: Readonly<Record<string, string>>;
  /** Wins over the route's temperature. 0 makes the request cacheable. */
  readonly temperature?: number | undefined;
  /** At most the model's maxOutputTokens. */
  readonly maxOutputTokens?: number | undefined;
  /** Overrides the route's onContextOverflow (the agent's setting). */
  readonly contextOverflow?: ContextOverflow | undefined;
  /** Streams the answer's text here (requests with it are never merged). */
  readonly onDelta?: (text: string) => void;
  readonly signal?: AbortSignal;
}

/** What the context-window guard changed. */
export interface ContextChange {
  /** The model the route chose, when a larger one took over. */
  readonly largerModelFor?: string;
  readonly toolOutputsTrimmed: number;
  readonly messagesRemoved: number;
  readonly summarized: boolean;
}

export interface RoutedAnswer extends ChatAnswer {
  /** The policy's name of the model (its key in `models`). */
  readonly model: string;
  readonly provider: string;
  readonly providerModel: string;
  readonly costUsd: number;
  /** What a cache hit or a merged call saved. */
  readonly savedUsd: number;
  readonly latencyMs: number;
  /** Time spent in upstream calls (latencyMs minus this is the router's own). */
  readonly upstreamMs: number;
  readonly route: string;
  readonly tier: Tier;
  /** The tokenizer's estimate of the prompt that was sent. */
  readonly promptTokens: number;
  readonly cacheHit: boolean;
  readonly merged: boolean;
  readonly fallbackUsed: boolean;
  /** The model the budget's downgrade replaced. */
  readonly downgradedFrom: string | null;
  readonly attempts: number;
  readonly context: ContextChange | null;
}

export interface ModelRouterOptions {
  readonly policy: PolicySource | ResolvedModelPolicy;
  /** The parsed configuration: `baseUrlEnv` and `apiKeyEnv` name its fields. */
  readonly env: Readonly<Record<string, unknown>>;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch;
  /** Ledger, budgets and cache; in process memory when not given. */
  readonly stores?: Partial<RouterStores>;
  readonly metrics?: RouterMetrics | undefined;
  readonly logger?: Logger | undefined;
  /** Providers given in code by name, instead of building them from the policy. */
  readonly providers?: Readonly<Record<string, ChatProvider>>;
  /** The cooldown clock. */
  readonly now?: () => number;
}

/** The routing decision, before the context guard. */
export interface RouteDecision {
  readonly route: Route;
  readonly model: string;
  readonly tier: Tier;
  readonly promptTokens: number;
}

interface Prepared extends RouteDecision {
  readonly policy: ResolvedModelPolicy;
  readonly messages: readonly ChatMessage[];
  readonly temperature: number | undefined;
  readonly context: ContextChange | null;
}

interface Executed {
  readonly answer: ChatAnswer;
  readonly model: string;
  readonly config: ModelConfig;
  readonly costUsd: number;
  readonly attempts: number;
  readonly fallbackUsed: boolean;
  readonly downgradedFrom: string | null;
  readonly upstreamMs: number;
  readonly promptTokens: number;
}

/** The billed usage of an answer that cost nothing (a cache hit, a merged call). */
const NO_USAGE: TokenUsage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 };

/** Tokens kept free for the summary that replaces summarised turns. */
const SUMMARY_TOKENS = 512;

function chainOf(errorClass: LlmErrorClass): FallbackClass | undefined {
  if (errorClass === 'unavailable') return 'server_error';
  return errorClass === 'rate_limit' || errorClass === 'timeout' || errorClass === 'server_error' || errorClass === 'context_window' ? errorClass : undefined;
}

/** Routes, guards, caches, merges, budgets, calls and accounts model requests (see the file comment). */
export class ModelRouter {
  readonly #policy: PolicySource;
  readonly #stores: RouterStores;
  readonly #accountant: Accountant;
  readonly #registry: ProviderRegistry;
  readonly #cooldowns: Cooldowns;
  readonly #inflight = new InFlight<Executed>();
  readonly #embedder: Embedder;
  readonly #logger: Logger | undefined;
  readonly #timeoutMs: number;

  constructor(options: ModelRouterOptions) {
    this.#policy = 'current' in options.policy ? options.policy : staticPolicy(options.policy);
    const memory = new MemoryRouterStore(options.now);
    this.#stores = { ledger: options.stores?.ledger ?? memory.ledger, budgets: options.stores?.budgets ?? memory.budgets, cache: options.stores?.cache ?? memory.cache };
    this.#accountant = new Accountant(this.#stores.ledger, options.metrics, options.now);
    this.#registry = new ProviderRegistry({ env: options.env, timeoutMs: options.timeoutMs, fetch: options.fetch, overrides: options.providers });
    this.#cooldowns = new Cooldowns(options.now);
    this.#logger = options.logger;
    this.#timeoutMs = options.timeoutMs;
    this.#embedder = new Embedder({ stores: this.#stores, accountant: this.#accountant, registry: this.#registry });
  }

  /** The running policy. */
  get policy(): ResolvedModelPolicy {
    return this.#policy.current;
  }

  /** Route and model for a request: explicit model > first matching route > default. */
  decide(request: Pick<RouteRequest, 'tenantId' | 'model' | 'requestType' | 'tier' | 'messages' | 'tools'>, policy = this.#policy.current): RouteDecision {
    if (request.model !== undefined) {
      const m = modelOf(policy, request.model);
      if (!m || m.type !== 'chat') {
        const known = Object.keys(policy.models).filter((k) => policy.models[k]?.type === 'chat');
        throw new LlmError('bad_request', `unknown model "${request.model}"; known: ${known.join(', ')}`);
      }
    }
    if (request.tier !== undefined && !TIERS.includes(request.tier)) {
      throw new LlmError('bad_request', `unknown complexity tier "${String(request.tier)}"; known: ${TIERS.join(', ')}`);
    }
    const promptTokens = estimatePromptTokens(request.messages, request.tools);
    const tier = request.tier ?? estimateTier({ messages: request.messages, promptTokens, hasTools: (request.tools?.length ?? 0) > 0 });
    const route = matchRoute(policy, { tenantId: request.tenantId, requestType: request.requestType, tier, promptTokens });
    return { route, model: request.model ?? route.model, tier, promptTokens };
  }

  /** The model key serving a request (no messages: an empty prompt). */
  choose(request: { model?: string | undefined; requestType?: string | undefined; tenantId?: string; tier?: Tier }): string {
    return this.decide({ tenantId: request.tenantId ?? '', model: request.model, requestType: request.requestType, tier: request.tier ?? 'small', messages: [] }).model;
  }

  /** Sends a chat request through the policy; see the file's comment for the steps. */
  async complete(request: RouteRequest): Promise<RoutedAnswer> {
    const startedAt = performance.now();
    const policy = this.#policy.current;
    const p = await this.#prepare(policy, request);
    const model = policy.models[p.model] as ModelConfig;
    const ctx: CallContext = {
      tenantId: request.tenantId,
      sessionId: request.sessionId ?? null,
      kind: 'chat',
      route: p.route.name,
      requestType: request.requestType ?? null,
      tier: p.tier,
      startedAt,
    };
    const passMetadata = policy.providers[model.provider]?.passMetadata ?? false;
    const key = requestKey({
      model: p.model,
      providerModel: model.model,
      messages: p.messages,
      tools: request.tools,
      temperature: p.temperature,
      maxOutputTokens: this.#maxOutput(model, request),
      metadata: passMetadata ? request.metadata : undefined,
    });
    const cacheable = p.route.cache.enabled && (p.temperature === 0 || p.route.cache.deterministic);
    const base = { model: p.model, provider: model.provider, providerModel: model.model };
    const answerOf = (a: ChatAnswer, e: Partial<RoutedAnswer>): RoutedAnswer => ({
      ...a,
      ...base,
      costUsd: 0,
      savedUsd: 0,
      upstreamMs: 0,
      attempts: 0,
      cacheHit: false,
      merged: false,
      fallbackUsed: false,
      downgradedFrom: null,
      ...e,
      route: p.route.name,
      tier: p.tier,
      promptTokens: p.promptTokens,
      context: p.context,
      latencyMs: performance.now() - startedAt,
    });

    if (cacheable) {
      const hit = await this.#stores.cache.get(request.tenantId, key);
      if (hit) {
        await this.#accountant.record(ctx, { ...base, outcome: 'cache_hit', savedUsd: hit.costUsd });
        return answerOf({ ...hit.answer, usage: NO_USAGE }, { cacheHit: true, savedUsd: hit.costUsd });
      }
    }
    const run = (signal: AbortSignal | undefined) => this.#execute(p, request, ctx, signal, cacheable ? key : undefined);
    if (!policy.mergeInFlight || request.onDelta) {
      const done = await run(request.signal);
      return answerOf(done.answer, this.#summary(done));
    }
    const flight = this.#inflight.run(`${request.tenantId}\u0000${key}`, request.signal, run);
    if (flight.leader) {
      const done = await flight.promise;
      return answerOf(done.answer, this.#summary(done));
    }
    let done: Executed;
    try {
      done = await flight.promise;
    } catch (err) {
      await this.#accountant.record(ctx, { ...base, ...outcomeOf(err) }).catch(() => undefined);
      throw err;
    }
    const shared = { model: done.model, provider: done.config.provider, providerModel: done.config.model };
    await this.#accountant.record(ctx, { ...shared, outcome: 'merged', savedUsd: done.costUsd, fallbackUsed: done.fallbackUsed, downgradedFrom: done.downgradedFrom });
    return answerOf({ ...done.answer, usage: NO_USAGE }, { ...shared, merged: true, savedUsd: done.costUsd, fallbackUsed: done.fallbackUsed, downgradedFrom: done.downgradedFrom });
  }

  #summary(done: Executed): Partial<RoutedAnswer> {
    return {
      model: done.model,
      provider: done.config.provider,
      providerModel: done.config.model,
      costUsd: done.costUsd,
      upstreamMs: done.upstreamMs,
      attempts: done.attempts,
      fallbackUsed: done.fallbackUsed,
      downgradedFrom: done.downgradedFrom,
      promptTokens: done.promptTokens,
    };
  }

  #maxOutput(model: ModelConfig, request: Pick<RouteRequest, 'maxOutputTokens'>): number {
    return Math.min(request.maxOutputTokens ?? model.maxOutputTokens, model.maxOutputTokens);
  }

  /** The decision plus the context-window guard. */
  async #prepare(policy: ResolvedModelPolicy, request: RouteRequest): Promise<Prepared> {
    const decision = this.decide(request, policy);
    const temperature = request.temperature ?? decision.route.temperature;
    const margin = policy.context.estimateMargin;
    const chosen = policy.models[decision.model] as ModelConfig;
    const unchanged = { ...decision, policy, messages: request.messages, temperature, context: null };
    if (fits(chosen, decision.promptTokens, margin)) return unchanged;

    // A larger model, when the policy allows one.
    for (const key of decision.route.fallbacks.context_window ?? []) {
      const m = modelOf(policy, key);
      if (m && fits(m, decision.promptTokens, margin) && !this.#cooldowns.cooling(`${m.provider}/${m.model}`)) {
        this.#logger?.info('context window: a larger model takes the request', { from: decision.model, to: key, promptTokens: decision.promptTokens });
        return { ...unchanged, model: key, context: { largerModelFor: decision.model, toolOutputsTrimmed: 0, messagesRemoved: 0, summarized: false } };
      }
    }
    const mode = request.contextOverflow ?? decision.route.onContextOverflow;
    const limit = promptLimit(chosen, margin);
    const what = `a prompt of ~${decision.promptTokens} tokens does not fit ${decision.model} (window ${chosen.contextWindow}, ${chosen.maxOutputTokens} kept for the answer)`;
    if (mode === 'fail') throw new LlmError('context_window', `${what}, no larger model is allowed and onContextOverflow is fail`, { model: decision.model });
    let messages = request.messages;
    let summarized = false;
    let removed = 0;
    if (mode === 'summarize') {
      const plan = planSummary(messages, request.tools, limit, policy.context.keepRecentMessages, SUMMARY_TOKENS);
      if (plan) {
        try {
          const summary = await this.complete({
            tenantId: request.tenantId,
            sessionId: request.sessionId,
            model: policy.context.summaryModel ?? policy.defaultRoute.model,
            requestType: 'summary',
            messages: summaryPrompt(plan.removed),
            temperature: 0,
            maxOutputTokens: SUMMARY_TOKENS,
            contextOverflow: 'trim',
            ...(request.signal ? { signal: request.signal } : {}),
          });
          messages = [...plan.kept.slice(0, plan.insertAt), summaryMessage(summary.content ?? '', plan.removed.length), ...plan.kept.slice(plan.insertAt)];
          summarized = true;
          removed = plan.removed.length;
        } catch (err) {
          this.#logger?.warn('context window: summary failed, trimming instead', { error: (err as Error).message });
        }
      }
    }
    const cut = trimTranscript(messages, request.tools, limit, policy.context.keepRecentMessages);
    if (!cut) {
      throw new LlmError('context_window', `${what}, and even the kept messages (system prompt, last user message, last ${policy.context.keepRecentMessages}) are over ${limit} tokens`, {
        model: decision.model,
      });
    }
    return {
      ...unchanged,
      messages: cut.messages,
      promptTokens: cut.promptTokens,
      context: { toolOutputsTrimmed: cut.toolOutputsTrimmed, messagesRemoved: removed + cut.messagesRemoved, summarized },
    };
  }

  /** The prompt a deployment gets: as prepared, or trimmed to its smaller window; undefined when it cannot fit. */
  #promptFor(p: Prepared, request: RouteRequest, model: ModelConfig): { messages: readonly ChatMessage[]; promptTokens: number } | undefined {
    const margin = p.policy.context.estimateMargin;
    if (fits(model, p.promptTokens, margin)) return { messages: p.messages, promptTokens: p.promptTokens };
    if ((request.contextOverflow ?? p.route.onContextOverflow) === 'fail') return undefined;
    return trimTranscript(p.messages, request.tools, promptLimit(model, margin), p.policy.context.keepRecentMessages);
  }

  /** The upstream part: budget, deployments with retries, cooldown and fallbacks, ledger and cache. */
  async #execute(p: Prepared, request: RouteRequest, ctx: CallContext, signal: AbortSignal | undefined, cacheKey: string | undefined): Promise<Executed> {
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
      await this.#accountant.record(ctx, { model: key, provider: m.provider, providerModel: m.model, ...outcomeOf(err), attempts: counter.count, downgradedFrom });
      throw err;
    };

    for (let i = 0; i < queue.length; i++) {
      const key = queue[i] as string;
      const model = policy.models[key] as ModelConfig;
      const deployment = `${model.provider}/${model.model}`;
      const cooling = this.#cooldowns.cooling(deployment);
      if (cooling) {
        soonestCoolingMs = Math.min(soonestCoolingMs ?? Infinity, cooling.remainingMs);
        enqueue(cooling.errorClass);
        continue;
      }
      const prompt = this.#promptFor(p, request, model);
      if (!prompt) continue;
      const maxOutputTokens = this.#maxOutput(model, request);

      let reservation: Reservation | undefined;
      if (budget && !isFree(model)) {
        const amount = maxCallCostUsd({ ...model, maxOutputTokens }, prompt.promptTokens, margin);
        const ttlSeconds = Math.ceil(((policy.providers[model.provider]?.timeoutMs ?? this.#timeoutMs) * (policy.retries.maxRetries + 1)) / 1000) + 60;
        const r = await this.#stores.budgets.reserve(request.tenantId, amount, budget, ttlSeconds);
        if (!r.ok) {
          const refusal = budgetExceeded(request.tenantId, r, key, amount);
          const action = budget.onExceeded;
          // The budget's action applies once, at the first refusal: downgrade to the named model, else refuse.
          if (downgradeTo === undefined && action.action === 'downgrade' && action.model !== key) {
            this.#logger?.info('budget exceeded: downgrading', { tenant: request.tenantId, from: key, to: action.model, period: r.period });
            downgradedFrom = key;
            downgradeTo = action.model;
            queue.splice(i + 1, 0, action.model);
            queued.add(action.model);
            continue;
          }
          return fail(refusal, key);
        }
        reservation = r.reservation;
        this.#accountant.budgetRemaining(request.tenantId, budget, r.remaining);
      }

      const provider = this.#registry.get(policy, model.provider);
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
            if (e.retryable && this.#cooldowns.failure(deployment, e.errorClass, policy.cooldown, e.details.retryAfterMs)) {
              this.#logger?.warn('deployment cooling down', { deployment, errorClass: e.errorClass, cooldownSeconds: policy.cooldown.cooldownSeconds });
            }
          },
        );
      } catch (err) {
        upstreamMs += performance.now() - t0;
        if (reservation) await this.#stores.budgets.release(reservation).catch(() => undefined);
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
      this.#accountant.latency(model.provider, key, took);
      this.#cooldowns.success(deployment);
      const costUsd = callCostUsd(model, answer.usage);
      const fallbackUsed = key !== p.model && key !== downgradeTo;
      await this.#accountant.record(
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
      if (cacheKey !== undefined && key === p.model && prompt.messages === p.messages) {
        await this.#stores.cache
          .put(request.tenantId, cacheKey, { answer, model: key, provider: model.provider, providerModel: model.model, costUsd }, p.route.cache.ttlSeconds)
          .catch((err: unknown) => this.#logger?.warn('model cache write failed', { error: (err as Error).message }));
      }
      return { answer, model: key, config: model, costUsd, attempts: counter.count, fallbackUsed, downgradedFrom, upstreamMs, promptTokens: prompt.promptTokens };
    }
    const error =
      lastError ??
      (soonestCoolingMs !== undefined
        ? new LlmError('unavailable', `every deployment of route ${p.route.name} is cooling down`, { retryAfterMs: Math.ceil(soonestCoolingMs) })
        : new LlmError('context_window', `no deployment of route ${p.route.name} can take a prompt of ~${p.promptTokens} tokens`));
    return fail(error, lastKey);
  }

  /** Embeds texts; requests within the policy's batch window go upstream as one batch (router/embeddings.ts). */
  embed(request: EmbedRouteRequest): Promise<EmbedResult> {
    return this.#embedder.embed(this.#policy.current, request);
  }
}

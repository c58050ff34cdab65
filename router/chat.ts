/**
 * The chat side of the router: prepares a request (decision, context guard),
 * answers it from the tenant's exact cache, then (routes that opt in) from
 * its semantic cache (router/semantic-cache.ts), or joins an identical call
 * in flight, else runs the fallback chain (router/fallback-chain.ts), and
 * shapes the RoutedAnswer. Cache hits and merged calls write their own
 * ledger rows; the semantic lookup's result is on the request's row.
 */
import type { Logger } from '../observability/logger.js';
import { outcomeOf, type Accountant, type CallContext } from './accounting.js';
import { requestKey, type KeyedRequest } from './cache-key.js';
import type { EmbedResult, EmbedRouteRequest } from './embeddings.js';
import type { Cooldowns } from './cooldown.js';
import { runFallbackChain, type FallbackChainDeps } from './fallback-chain.js';
import { InFlight } from './inflight.js';
import type { ModelConfig } from './model-policy.js';
import type { PolicySource } from './policy-store.js';
import { maxOutputFor, prepareRequest } from './prepare.js';
import type { Executed, RoutedAnswer, RouteRequest } from './route-types.js';
import { SemanticCache, type SemanticProbe } from './semantic-cache.js';
import type { RouterStores } from './stores.js';
import type { ChatAnswer, TokenUsage } from './types.js';

/** The billed usage of an answer that cost nothing (a cache hit, a merged call). */
const NO_USAGE: TokenUsage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 };

/** What the chat side of the router works with: the running policy, and what the fallback chain needs. */
export interface ChatRouterDeps extends FallbackChainDeps {
  readonly policy: PolicySource;
  /** The router's embeddings, for the semantic cache's lookups. */
  readonly embed: (request: EmbedRouteRequest) => Promise<EmbedResult>;
}

/** Cache, merging of identical calls in flight, and the fallback chain, for chat requests. */
export class ChatRouter {
  readonly #policy: PolicySource;
  readonly #stores: RouterStores;
  readonly #accountant: Accountant;
  readonly #cooldowns: Cooldowns;
  readonly #logger: Logger | undefined;
  readonly #chain: FallbackChainDeps;
  readonly #inflight = new InFlight<Executed>();
  readonly #semantic: SemanticCache;

  constructor(deps: ChatRouterDeps) {
    this.#policy = deps.policy;
    this.#stores = deps.stores;
    this.#accountant = deps.accountant;
    this.#cooldowns = deps.cooldowns;
    this.#logger = deps.logger;
    this.#chain = deps;
    this.#semantic = new SemanticCache({ store: deps.stores.semantic, embed: deps.embed, logger: deps.logger });
  }

  /** Sends a chat request through the policy; see the file's comment for the steps. */
  async complete(request: RouteRequest): Promise<RoutedAnswer> {
    const startedAt = performance.now();
    const policy = this.#policy.current;
    const p = await prepareRequest({ cooldowns: this.#cooldowns, logger: this.#logger, complete: (r) => this.complete(r) }, policy, request);
    const model = policy.models[p.model] as ModelConfig;
    let ctx: CallContext = {
      tenantId: request.tenantId,
      sessionId: request.sessionId ?? null,
      kind: 'chat',
      route: p.route.name,
      requestType: request.requestType ?? null,
      tier: p.tier,
      startedAt,
    };
    const passMetadata = policy.providers[model.provider]?.passMetadata ?? false;
    const keyed: KeyedRequest = {
      model: p.model,
      providerModel: model.model,
      messages: p.messages,
      tools: request.tools,
      temperature: p.temperature,
      maxOutputTokens: maxOutputFor(model, request),
      metadata: passMetadata ? request.metadata : undefined,
    };
    const key = requestKey(keyed);
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
    const semanticConfig = cacheable ? p.route.semanticCache : null;
    let probe: SemanticProbe | undefined;
    if (semanticConfig) {
      const embedder = policy.models[semanticConfig.embeddingModel];
      probe = await this.#semantic.lookup(semanticConfig, {
        tenantId: request.tenantId,
        sessionId: request.sessionId,
        route: p.route.name,
        embeddingModel: `${semanticConfig.embeddingModel}/${embedder?.model ?? ''}`,
        keyed,
      });
      ctx = { ...ctx, semantic: { lookup: probe.lookup, similarity: probe.similarity } };
      if (probe.lookup === 'hit') {
        const hit = probe.value;
        const from = { model: hit.model, provider: hit.provider, providerModel: hit.providerModel };
        await this.#accountant.record(ctx, { ...from, outcome: 'cache_hit', savedUsd: hit.costUsd });
        return answerOf({ ...hit.answer, usage: NO_USAGE }, { ...from, cacheHit: true, savedUsd: hit.costUsd });
      }
    }
    const callCtx = ctx;
    const run = (signal: AbortSignal | undefined) => runFallbackChain(this.#chain, { prepared: p, request, ctx: callCtx, signal, cacheKey: cacheable ? key : undefined });
    // The leader (or a lone call) keeps its answer for the semantic cache's next near duplicate.
    const remember = async (done: Executed) => {
      if (probe?.lookup !== 'miss' || !semanticConfig || !done.cacheable) return;
      const value = { answer: done.answer, model: done.model, provider: done.config.provider, providerModel: done.config.model, costUsd: done.costUsd };
      await this.#semantic.remember(request.tenantId, probe, value, semanticConfig.ttlSeconds);
    };
    if (!policy.mergeInFlight || request.onDelta) {
      const done = await run(request.signal);
      await remember(done);
      return answerOf(done.answer, this.#summary(done));
    }
    const flight = this.#inflight.run(`${request.tenantId}\u0000${key}`, request.signal, run);
    if (flight.leader) {
      const done = await flight.promise;
      await remember(done);
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
}

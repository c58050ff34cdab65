/**
 * The model router: a library inside the LLM activity. For each request it
 * estimates the prompt's tokens and complexity, picks a route (first match
 * wins), guards the context window, answers from the tenant's cache or joins
 * an identical call in flight, reserves budget, calls the deployment with
 * retries, cooldown and fallbacks per error class, and writes one ledger row.
 *
 * This file holds the public facade; the steps are in prepare.ts (decision,
 * context guard), chat.ts (cache, merging) and fallback-chain.ts (budget,
 * retries, cooldown, fallbacks, ledger), embeddings in embeddings.ts.
 */
import type { Logger } from '../observability/logger.js';
import { Accountant, type RouterMetrics } from './accounting.js';
import { ChatRouter } from './chat.js';
import { Cooldowns } from './cooldown.js';
import { Embedder, type EmbedResult, type EmbedRouteRequest } from './embeddings.js';
import type { ResolvedModelPolicy, Tier } from './model-policy.js';
import { staticPolicy, type PolicySource } from './policy-store.js';
import { decideRoute } from './prepare.js';
import { ProviderRegistry } from './providers/registry.js';
import type { RoutedAnswer, RouteDecision, RouteRequest } from './route-types.js';
import { MemoryRouterStore, type RouterStores } from './stores.js';
import type { ChatProvider } from './types.js';

export { callCostUsd } from './pricing.js';
export type { RouterMetrics } from './accounting.js';
export type { EmbedResult, EmbedRouteRequest } from './embeddings.js';
export type { ContextChange, RoutedAnswer, RouteDecision, RouteRequest } from './route-types.js';

/** What a ModelRouter is built from. */
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

/** Routes, guards, caches, merges, budgets, calls and accounts model requests (see the file comment). */
export class ModelRouter {
  readonly #policy: PolicySource;
  readonly #chat: ChatRouter;
  readonly #embedder: Embedder;

  constructor(options: ModelRouterOptions) {
    this.#policy = 'current' in options.policy ? options.policy : staticPolicy(options.policy);
    const memory = new MemoryRouterStore(options.now);
    const stores: RouterStores = {
      ledger: options.stores?.ledger ?? memory.ledger,
      budgets: options.stores?.budgets ?? memory.budgets,
      cache: options.stores?.cache ?? memory.cache,
      semantic: options.stores?.semantic ?? memory.semantic,
    };
    const accountant = new Accountant(stores.ledger, options.metrics, options.now);
    const registry = new ProviderRegistry({ env: options.env, timeoutMs: options.timeoutMs, fetch: options.fetch, overrides: options.providers });
    const cooldowns = new Cooldowns(options.now);
    this.#embedder = new Embedder({ stores, accountant, registry });
    const embed = (request: EmbedRouteRequest) => this.#embedder.embed(this.#policy.current, request);
    this.#chat = new ChatRouter({ policy: this.#policy, stores, accountant, registry, cooldowns, logger: options.logger, timeoutMs: options.timeoutMs, embed });
  }

  /** The running policy. */
  get policy(): ResolvedModelPolicy {
    return this.#policy.current;
  }

  /** Route and model for a request: explicit model > first matching route > default. */
  decide(request: Pick<RouteRequest, 'tenantId' | 'model' | 'requestType' | 'tier' | 'messages' | 'tools'>, policy = this.#policy.current): RouteDecision {
    return decideRoute(request, policy);
  }

  /** The model key serving a request (no messages: an empty prompt). */
  choose(request: { model?: string | undefined; requestType?: string | undefined; tenantId?: string; tier?: Tier }): string {
    return this.decide({ tenantId: request.tenantId ?? '', model: request.model, requestType: request.requestType, tier: request.tier ?? 'small', messages: [] }).model;
  }

  /** Sends a chat request through the policy; see the file's comment for the steps. */
  complete(request: RouteRequest): Promise<RoutedAnswer> {
    return this.#chat.complete(request);
  }

  /** Embeds texts; requests within the policy's batch window go upstream as one batch (router/embeddings.ts). */
  embed(request: EmbedRouteRequest): Promise<EmbedResult> {
    return this.#embedder.embed(this.#policy.current, request);
  }
}

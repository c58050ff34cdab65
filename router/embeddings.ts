/**
 * Embeddings through the router: the policy's embedding model, a budget
 * reservation when it has a price, micro-batching (requests within the
 * policy's window go upstream as one batch and are split back), and one
 * ledger row per request with its share of the batch's billed tokens.
 */
import { type Accountant, type CallContext, outcomeOf } from './accounting.js';
import { withRetries } from './attempts.js';
import { apportion, MicroBatcher } from './batcher.js';
import { budgetExceeded, LlmError } from './errors.js';
import { budgetFor, isFree, modelOf, type ModelConfig, type ResolvedModelPolicy } from './model-policy.js';
import { callCostUsd, maxCallCostUsd } from './pricing.js';
import type { ProviderRegistry } from './providers/registry.js';
import type { Reservation, RouterStores } from './stores.js';
import { countTextTokens } from './tokens.js';
import type { TokenUsage } from './types.js';

export interface EmbedRouteRequest {
  readonly tenantId: string;
  readonly sessionId?: string | undefined;
  /** An embedding model of the policy; default `embeddings.model`. */
  readonly model?: string | undefined;
  readonly input: string | readonly string[];
  /** The ledger row's request type (default `embedding`; the semantic cache's lookups say so). */
  readonly requestType?: string | undefined;
}

export interface EmbedResult {
  readonly vectors: readonly (readonly number[])[];
  readonly model: string;
  readonly provider: string;
  /** This request's share of the batch's billed tokens. */
  readonly inputTokens: number;
  readonly costUsd: number;
  /** Requests that went upstream in the same batch. */
  readonly batchedWith: number;
}

interface Item {
  readonly text: string;
  readonly tokens: number;
}

interface Part {
  readonly vectors: (readonly number[])[];
  readonly inputTokens: number;
  readonly batchedWith: number;
}

export interface EmbedderDeps {
  readonly stores: RouterStores;
  readonly accountant: Accountant;
  readonly registry: ProviderRegistry;
}

/** The embeddings side of the router; one batcher per model of the running policy. */
export class Embedder {
  readonly #d: EmbedderDeps;
  readonly #batchers = new Map<string, { policy: ResolvedModelPolicy; batcher: MicroBatcher<Item, Part> }>();

  constructor(deps: EmbedderDeps) {
    this.#d = deps;
  }

  async embed(policy: ResolvedModelPolicy, request: EmbedRouteRequest): Promise<EmbedResult> {
    const startedAt = performance.now();
    const key = request.model ?? policy.embeddings?.model;
    if (key === undefined) throw new LlmError('bad_request', 'no embedding model: give one or set embeddings.model in the model policy');
    const model = modelOf(policy, key);
    if (!model || model.type !== 'embedding') throw new LlmError('bad_request', `"${key}" is not an embedding model of the policy`);
    const input = typeof request.input === 'string' ? [request.input] : [...request.input];
    if (input.length === 0 || input.some((s) => typeof s !== 'string' || s === '')) {
      throw new LlmError('bad_request', 'embedding input must be one or more non-empty strings');
    }
    const { stores, accountant } = this.#d;
    const ctx: CallContext = { tenantId: request.tenantId, sessionId: request.sessionId ?? null, kind: 'embedding', route: 'embeddings', requestType: request.requestType ?? 'embedding', tier: null, startedAt };
    const facts = { model: key, provider: model.provider, providerModel: model.model };
    const tokens = input.map(countTextTokens);
    const budget = budgetFor(policy, request.tenantId);
    let reservation: Reservation | undefined;
    if (budget && !isFree(model)) {
      const amount = maxCallCostUsd({ ...model, maxOutputTokens: 0 }, tokens.reduce((a, b) => a + b, 0), policy.context.estimateMargin);
      const r = await stores.budgets.reserve(request.tenantId, amount, budget, 120);
      if (!r.ok) {
        const refusal = budgetExceeded(request.tenantId, r, key, amount);
        await accountant.record(ctx, { ...facts, outcome: 'refused', errorClass: refusal.errorClass });
        throw refusal;
      }
      reservation = r.reservation;
    }
    let part: Part;
    try {
      part = await this.#batcher(policy, key, model).add(input.map((text, i) => ({ text, tokens: tokens[i] ?? 0 })));
    } catch (err) {
      if (reservation) await stores.budgets.release(reservation).catch(() => undefined);
      await accountant.record(ctx, { ...facts, ...outcomeOf(err), attempts: 1 });
      throw err;
    }
    const usage: TokenUsage = { inputTokens: part.inputTokens, outputTokens: 0, cachedInputTokens: 0 };
    const costUsd = callCostUsd(model, usage);
    await accountant.record(ctx, { ...facts, outcome: 'ok', usage, costUsd, attempts: 1 }, budget, reservation);
    return { vectors: part.vectors, model: key, provider: model.provider, inputTokens: part.inputTokens, costUsd, batchedWith: part.batchedWith };
  }

  #batcher(policy: ResolvedModelPolicy, key: string, model: ModelConfig): MicroBatcher<Item, Part> {
    const existing = this.#batchers.get(key);
    if (existing && existing.policy === policy) return existing.batcher;
    const batch = policy.embeddings?.batch ?? { windowMs: 5, maxInputs: 64 };
    const batcher = new MicroBatcher<Item, Part>({
      windowMs: batch.windowMs,
      maxItems: batch.maxInputs,
      run: async (groups) => {
        const provider = this.#d.registry.get(policy, model.provider);
        if (!provider.embed) throw new LlmError('not_supported', `provider ${model.provider} has no embeddings`, { provider: model.provider });
        const embed = provider.embed.bind(provider);
        const flat = groups.flat();
        const t0 = performance.now();
        const answer = await withRetries(() => embed({ model: model.model, input: flat.map((i) => i.text) }), policy.retries, { count: 0 });
        this.#d.accountant.latency(model.provider, key, performance.now() - t0);
        // The provider bills the batch; each request gets its share, by its estimated tokens.
        const shares = apportion(answer.inputTokens, groups.map((g) => g.reduce((n, i) => n + i.tokens, 0)));
        let offset = 0;
        return groups.map((g, i) => {
          const vectors = answer.vectors.slice(offset, offset + g.length);
          offset += g.length;
          return { vectors, inputTokens: shares[i] ?? 0, batchedWith: groups.length };
        });
      },
    });
    this.#batchers.set(key, { policy, batcher });
    return batcher;
  }
}

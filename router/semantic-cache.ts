/**
 * The semantic cache: after the exact cache missed, a cacheable request of a
 * route that opted in (routes[].semanticCache) is split into the text
 * compared by meaning and the scope compared exactly (router/semantic-key.ts),
 * the text is embedded through the router's own embeddings (a ledger row of
 * kind embedding, request type semantic_cache: the lookup's cost is
 * accounted like any call), and the newest `maxCandidates` answers of the
 * tenant's scope are compared in process by cosine similarity. The best one
 * at or above the route's threshold answers; otherwise the request goes
 * upstream and its answer is stored with the vector.
 *
 * Never across tenants: the store is read by tenant first, and no code path
 * here reads without one. A failed embedding is a lookup `error`: the request
 * is answered upstream as if the route had no semantic cache.
 */
import type { Logger } from '../observability/logger.js';
import type { KeyedRequest } from './cache-key.js';
import type { EmbedResult, EmbedRouteRequest } from './embeddings.js';
import type { RouteSemanticCache } from './model-policy.js';
import { semanticSplit, type SemanticSplit } from './semantic-key.js';
import type { CachedAnswer, SemanticCacheStore, SemanticLookup } from './stores.js';

/** The request type of the embedding calls the lookups make (their ledger rows). */
export const SEMANTIC_EMBED_REQUEST_TYPE = 'semantic_cache';

/** What a lookup found. A miss carries what storing the answer needs. */
export type SemanticProbe =
  | { readonly lookup: 'hit'; readonly similarity: number; readonly value: CachedAnswer }
  | { readonly lookup: 'miss'; readonly similarity: number | null; readonly split: SemanticSplit; readonly vector: Float32Array }
  | { readonly lookup: Exclude<SemanticLookup, 'hit' | 'miss'>; readonly similarity: null };

export interface SemanticCacheDeps {
  readonly store: SemanticCacheStore;
  readonly embed: (request: EmbedRouteRequest) => Promise<EmbedResult>;
  readonly logger: Logger | undefined;
}

/** The vector at unit length, as float32; undefined for a zero vector (nothing to compare). */
export function unitVector(values: ArrayLike<number>): Float32Array | undefined {
  let norm = 0;
  for (let i = 0; i < values.length; i++) norm += (values[i] as number) ** 2;
  norm = Math.sqrt(norm);
  if (!(norm > 0) || !Number.isFinite(norm)) return undefined;
  const v = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) v[i] = (values[i] as number) / norm;
  return v;
}

/** Cosine similarity of two unit vectors (their dot product); -1 when their sizes differ. */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -1;
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i] as number) * (b[i] as number);
  return dot;
}

/** The candidate most similar to `query`, with its similarity; undefined without a comparable candidate. */
export function bestMatch<T extends { readonly vector: Float32Array }>(query: Float32Array, candidates: readonly T[]): { entry: T; similarity: number } | undefined {
  let best: { entry: T; similarity: number } | undefined;
  for (const entry of candidates) {
    if (entry.vector.length !== query.length) continue;
    const similarity = cosine(query, entry.vector);
    if (!best || similarity > best.similarity) best = { entry, similarity };
  }
  return best;
}

/** Looks requests up and stores answers; see the file comment. */
export class SemanticCache {
  readonly #d: SemanticCacheDeps;

  constructor(deps: SemanticCacheDeps) {
    this.#d = deps;
  }

  /**
   * The lookup of one request. `embeddingModel` names the embedder in the
   * scope (key and provider model: vectors of two embedders never meet).
   */
  async lookup(
    config: RouteSemanticCache,
    request: { readonly tenantId: string; readonly sessionId?: string | undefined; readonly route: string; readonly embeddingModel: string; readonly keyed: KeyedRequest },
  ): Promise<SemanticProbe> {
    const split = semanticSplit(request.keyed, { route: request.route, embeddingModel: request.embeddingModel, maxTextChars: config.maxTextChars });
    if (!split) return { lookup: 'skipped', similarity: null };
    let vector: Float32Array | undefined;
    try {
      const embedded = await this.#d.embed({ tenantId: request.tenantId, sessionId: request.sessionId, model: config.embeddingModel, input: split.text, requestType: SEMANTIC_EMBED_REQUEST_TYPE });
      vector = unitVector(embedded.vectors[0] ?? []);
    } catch (err) {
      this.#d.logger?.warn('semantic cache: embedding failed, answering upstream', { error: (err as Error).message, route: request.route });
      return { lookup: 'error', similarity: null };
    }
    if (!vector) return { lookup: 'skipped', similarity: null };
    let candidates;
    try {
      candidates = await this.#d.store.candidates(request.tenantId, split.scope, config.maxCandidates);
    } catch (err) {
      this.#d.logger?.warn('semantic cache: lookup failed, answering upstream', { error: (err as Error).message, route: request.route });
      return { lookup: 'error', similarity: null };
    }
    const best = bestMatch(vector, candidates);
    // Rounded for the ledger and the metrics: float32 sums land a hair off 1 for identical texts.
    const similarity = best ? Math.min(1, Math.round(best.similarity * 1e6) / 1e6) : null;
    if (best && similarity !== null && similarity >= config.threshold) {
      // Expired (or replaced) since the candidates were read: a miss like any other.
      const value = await this.#d.store.answer(request.tenantId, split.scope, best.entry.textHash).catch(() => undefined);
      if (value) return { lookup: 'hit', similarity, value };
    }
    return { lookup: 'miss', similarity, split, vector };
  }

  /** Stores the answer of a request whose lookup missed. Failures are logged: the answer is already given. */
  async remember(tenantId: string, probe: Extract<SemanticProbe, { lookup: 'miss' }>, value: CachedAnswer, ttlSeconds: number): Promise<void> {
    await this.#d.store
      .put(tenantId, probe.split.scope, { textHash: probe.split.textHash, vector: probe.vector, value }, ttlSeconds)
      .catch((err: unknown) => this.#d.logger?.warn('semantic cache write failed', { error: (err as Error).message }));
  }
}

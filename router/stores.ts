/**
 * The router's seams to storage: the cost ledger, budget reservations and the
 * answer cache, as small interfaces. Postgres implements them in db/llm-*.ts;
 * the in-memory store here has the same semantics, for tests, benchmarks and
 * a router built without a database.
 */
import { randomUUID } from 'node:crypto';
import type { Tier } from './model-policy.js';
import type { ChatAnswer } from './types.js';

/** How a router call ended, as the ledger records it. */
export type CallOutcome = 'ok' | 'cache_hit' | 'merged' | 'error' | 'refused';

/** One row of `llm_calls`. */
export interface LedgerEntry {
  readonly id: string;
  readonly createdAt: Date;
  readonly tenantId: string;
  readonly sessionId: string | null;
  readonly kind: 'chat' | 'embedding';
  readonly route: string;
  readonly requestType: string | null;
  readonly tier: Tier | null;
  readonly provider: string;
  /** The policy's key of the model. */
  readonly model: string;
  readonly providerModel: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cachedInputTokens: number;
  readonly costUsd: number;
  /** What a cache hit or a merged call would have cost on its own. */
  readonly savedUsd: number;
  readonly latencyMs: number;
  readonly cacheHit: boolean;
  readonly merged: boolean;
  readonly fallbackUsed: boolean;
  readonly downgradedFrom: string | null;
  /** Upstream requests made for this call (retries and fallbacks included). */
  readonly attempts: number;
  readonly outcome: CallOutcome;
  readonly errorClass: string | null;
  /** The provider reported no usage; tokens and cost are the router's estimate. */
  readonly usageEstimated: boolean;
  /** The semantic cache's lookup for this call; null when the route has none or the call was not cacheable. */
  readonly semanticCache: SemanticLookup | null;
  /** The best cosine similarity that lookup found; null without a candidate. */
  readonly semanticSimilarity: number | null;
}

/** How a semantic cache lookup ended: skipped when the request has no user text to compare (or too long), error when embedding failed (the call went upstream). */
export type SemanticLookup = 'hit' | 'miss' | 'skipped' | 'error';

export interface BudgetLimits {
  readonly dailyUsd?: number | undefined;
  readonly monthlyUsd?: number | undefined;
}

/** Money set aside for one call until it is recorded or released. */
export interface Reservation {
  readonly id: string;
  readonly tenantId: string;
  readonly amountUsd: number;
  /** UTC day and month (YYYY-MM-DD, YYYY-MM-01) the reservation counts against. */
  readonly day: string;
  readonly month: string;
}

/** What is left of each limit after the reservation (or at refusal). */
export interface Remaining {
  readonly dayUsd?: number | undefined;
  readonly monthUsd?: number | undefined;
}

export type ReserveResult =
  | { readonly ok: true; readonly reservation: Reservation; readonly remaining: Remaining }
  | { readonly ok: false; readonly period: 'day' | 'month'; readonly limitUsd: number; readonly spentUsd: number; readonly reservedUsd: number };

export interface BudgetStore {
  /** Sets `amountUsd` aside unless spent + reserved + amount would pass a limit; atomic per tenant. */
  reserve(tenantId: string, amountUsd: number, limits: BudgetLimits, ttlSeconds: number, now?: Date): Promise<ReserveResult>;
  /** Gives a reservation back (the call failed before costing anything). */
  release(reservation: Reservation): Promise<void>;
}

export interface LedgerStore {
  /**
   * Writes the call's row, adds its cost to the tenant's spend and releases its
   * reservation, atomically. Returns the spend of the day and month after it.
   */
  record(entry: LedgerEntry, reservation?: Reservation): Promise<{ daySpentUsd: number; monthSpentUsd: number }>;
}

/** A stored answer and what it cost the first time. */
export interface CachedAnswer {
  readonly answer: ChatAnswer;
  readonly model: string;
  readonly provider: string;
  readonly providerModel: string;
  readonly costUsd: number;
}

export interface CacheStore {
  /** The tenant's unexpired answer under `key`. */
  get(tenantId: string, key: string): Promise<CachedAnswer | undefined>;
  put(tenantId: string, key: string, value: CachedAnswer, ttlSeconds: number): Promise<void>;
}

/** The vector of a stored text (unit length), by the text's hash. */
export interface SemanticVector {
  readonly textHash: string;
  readonly vector: Float32Array;
}

/** One answer of the semantic cache: its text's vector and the answer. */
export interface SemanticEntry extends SemanticVector {
  readonly value: CachedAnswer;
}

/**
 * The semantic cache's storage (router/semantic-cache.ts compares): entries
 * by tenant, then scope (router/semantic-key.ts); never read across tenants.
 */
export interface SemanticCacheStore {
  /** The vectors of the tenant's newest unexpired entries of a scope, at most `limit` (answers are read only for a hit). */
  candidates(tenantId: string, scope: string, limit: number): Promise<SemanticVector[]>;
  /** The tenant's unexpired answer of `textHash` in the scope. */
  answer(tenantId: string, scope: string, textHash: string): Promise<CachedAnswer | undefined>;
  /** Stores (or replaces) the entry of `textHash` in the scope; drops the scope's expired ones. */
  put(tenantId: string, scope: string, entry: SemanticEntry, ttlSeconds: number): Promise<void>;
}

export interface RouterStores {
  readonly ledger: LedgerStore;
  readonly budgets: BudgetStore;
  readonly cache: CacheStore;
  readonly semantic: SemanticCacheStore;
}

/** UTC day and month of a time, as the budgets count them. */
export function budgetPeriods(now: Date): { day: string; month: string } {
  const day = now.toISOString().slice(0, 10);
  return { day, month: `${day.slice(0, 7)}-01` };
}

/** The first limit that spent + reserved + amount would pass, if any. */
export function overLimit(
  limits: BudgetLimits,
  spent: { day: number; month: number },
  reserved: { day: number; month: number },
  amountUsd: number,
): { period: 'day' | 'month'; limitUsd: number } | undefined {
  // Compared in 1e-8 USD units, so that float sums never refuse an exact fit.
  const units = (v: number) => Math.round(v * 1e8);
  if (limits.dailyUsd !== undefined && units(spent.day) + units(reserved.day) + units(amountUsd) > units(limits.dailyUsd)) {
    return { period: 'day', limitUsd: limits.dailyUsd };
  }
  if (limits.monthlyUsd !== undefined && units(spent.month) + units(reserved.month) + units(amountUsd) > units(limits.monthlyUsd)) {
    return { period: 'month', limitUsd: limits.monthlyUsd };
  }
  return undefined;
}

/** All the stores in process memory: same semantics as Postgres, nothing survives the process. */
export class MemoryRouterStore implements RouterStores {
  readonly rows: LedgerEntry[] = [];
  readonly #spent = new Map<string, number>();
  readonly #reservations = new Map<string, Reservation & { expiresAt: number }>();
  readonly #cache = new Map<string, { value: CachedAnswer; expiresAt: number }>();
  readonly #semantic = new Map<string, Map<string, { entry: SemanticEntry; expiresAt: number; at: number }>>();
  #semanticClock = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  readonly ledger: LedgerStore = {
    record: async (entry, reservation) => {
      if (reservation) this.#reservations.delete(reservation.id);
      this.rows.push(entry);
      const { day, month } = reservation ?? budgetPeriods(entry.createdAt);
      const add = (key: string) => this.#spent.set(key, (this.#spent.get(key) ?? 0) + entry.costUsd);
      if (entry.costUsd > 0) {
        add(`${entry.tenantId}|day|${day}`);
        add(`${entry.tenantId}|month|${month}`);
      }
      return { daySpentUsd: this.#spent.get(`${entry.tenantId}|day|${day}`) ?? 0, monthSpentUsd: this.#spent.get(`${entry.tenantId}|month|${month}`) ?? 0 };
    },
  };

  readonly budgets: BudgetStore = {
    reserve: async (tenantId, amountUsd, limits, ttlSeconds, now = new Date(this.#now())) => {
      const { day, month } = budgetPeriods(now);
      const spent = { day: this.#spent.get(`${tenantId}|day|${day}`) ?? 0, month: this.#spent.get(`${tenantId}|month|${month}`) ?? 0 };
      const reserved = { day: 0, month: 0 };
      for (const r of this.#reservations.values()) {
        if (r.tenantId !== tenantId || r.month !== month || r.expiresAt <= now.getTime()) continue;
        reserved.month += r.amountUsd;
        if (r.day === day) reserved.day += r.amountUsd;
      }
      const over = overLimit(limits, spent, reserved, amountUsd);
      if (over) {
        const p = over.period;
        return { ok: false, period: p, limitUsd: over.limitUsd, spentUsd: spent[p], reservedUsd: reserved[p] };
      }
      const reservation: Reservation = { id: randomUUID(), tenantId, amountUsd, day, month };
      this.#reservations.set(reservation.id, { ...reservation, expiresAt: now.getTime() + ttlSeconds * 1000 });
      return {
        ok: true,
        reservation,
        remaining: {
          dayUsd: limits.dailyUsd === undefined ? undefined : limits.dailyUsd - spent.day - reserved.day - amountUsd,
          monthUsd: limits.monthlyUsd === undefined ? undefined : limits.monthlyUsd - spent.month - reserved.month - amountUsd,
        },
      };
    },
    release: async (reservation) => {
      this.#reservations.delete(reservation.id);
    },
  };

  readonly cache: CacheStore = {
    get: async (tenantId, key) => {
      const hit = this.#cache.get(`${tenantId}\u0000${key}`);
      return hit && hit.expiresAt > this.#now() ? hit.value : undefined;
    },
    put: async (tenantId, key, value, ttlSeconds) => {
      this.#cache.set(`${tenantId}\u0000${key}`, { value, expiresAt: this.#now() + ttlSeconds * 1000 });
    },
  };

  readonly semantic: SemanticCacheStore = {
    candidates: async (tenantId, scope, limit) => {
      const now = this.#now();
      const rows = [...(this.#semantic.get(`${tenantId}\u0000${scope}`)?.values() ?? [])].filter((r) => r.expiresAt > now);
      return rows
        .sort((a, b) => b.at - a.at)
        .slice(0, limit)
        .map((r) => ({ textHash: r.entry.textHash, vector: r.entry.vector }));
    },
    answer: async (tenantId, scope, textHash) => {
      const row = this.#semantic.get(`${tenantId}\u0000${scope}`)?.get(textHash);
      return row && row.expiresAt > this.#now() ? row.entry.value : undefined;
    },
    put: async (tenantId, scope, entry, ttlSeconds) => {
      const key = `${tenantId}\u0000${scope}`;
      const rows = this.#semantic.get(key) ?? new Map();
      const now = this.#now();
      for (const [hash, r] of rows) if (r.expiresAt <= now) rows.delete(hash);
      // A counter, not the clock: entries put within one millisecond keep their order.
      rows.set(entry.textHash, { entry, expiresAt: now + ttlSeconds * 1000, at: ++this.#semanticClock });
      this.#semantic.set(key, rows);
    },
  };
}

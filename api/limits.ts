/**
 * Fair sharing at the API: per tenant, requests per second (a token bucket),
 * sessions running at once, open SSE streams, and the longest idle timeout a
 * session may ask for. Over a limit the caller gets a 429 with `Retry-After`
 * and a code (or a 400 naming the field); limits come from the configuration
 * and a tenant's own `tenant_limits` row.
 *
 * The token bucket and the stream count live in this API process: with several
 * instances behind a balancer each enforces them on its share. The session
 * count is Postgres's, under a per-tenant lock, so it holds across instances.
 */
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/client.js';
import { countRunningSessions, defaultTenantLimits, lockTenant, readTenantLimits, type TenantLimitConfig, type TenantLimits } from '../db/tenant-limits.js';
import { ApiError } from './errors.js';

export interface TenantLimiterOptions {
  readonly db: Db;
  readonly config: TenantLimitConfig;
  /** How long a tenant's limits are reused before they are read again (a changed row applies within this). */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** How long a caller over the session or stream limit is told to wait: they free up when a session ends, not on a clock. */
const RETRY_WHEN_BUSY_SECONDS = 5;
/** Buckets kept before idle (full) ones are dropped. */
const MAX_IDLE_BUCKETS = 10_000;

export class TenantLimiter {
  readonly #o: TenantLimiterOptions;
  readonly #defaults: TenantLimits;
  readonly #cache = new Map<string, { limits: Promise<TenantLimits>; at: number }>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #streams = new Map<string, number>();
  /** Per tenant, the last admission of this process, which the next one waits for (see admitSession). */
  readonly #admissions = new Map<string, Promise<unknown>>();

  constructor(options: TenantLimiterOptions) {
    this.#o = options;
    this.#defaults = defaultTenantLimits(options.config);
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** The tenant's limits, read at most every `cacheMs`. */
  async limitsFor(tenantId: string): Promise<TenantLimits> {
    const cached = this.#cache.get(tenantId);
    if (cached && this.#now() - cached.at < (this.#o.cacheMs ?? 5_000)) return cached.limits;
    const limits = readTenantLimits(this.#o.db, tenantId, this.#defaults);
    this.#cache.set(tenantId, { limits, at: this.#now() });
    limits.catch(() => this.#cache.delete(tenantId));
    return limits;
  }

  /** After authentication: one token per request from the tenant's bucket, else a 429. */
  rateLimit(): MiddlewareHandler {
    return async (c, next) => {
      const { tenantId } = c.get('principal');
      const { requestsPerSecond: rate, requestBurst: burst } = await this.limitsFor(tenantId);
      const now = this.#now();
      const bucket = this.#buckets.get(tenantId) ?? { tokens: burst, at: now };
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
      bucket.at = now;
      this.#buckets.set(tenantId, bucket);
      if (bucket.tokens < 1) {
        const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
        throw new ApiError(429, 'rate_limited', `tenant ${tenantId} is limited to ${rate} requests per second (bursts of ${burst}); retry in ${wait} s`, undefined, {
          'retry-after': String(wait),
        });
      }
      bucket.tokens -= 1;
      if (this.#buckets.size > MAX_IDLE_BUCKETS) this.#dropFullBuckets(now);
      await next();
    };
  }

  #dropFullBuckets(now: number): void {
    for (const [tenant, b] of this.#buckets) {
      if (now - b.at > 60_000) this.#buckets.delete(tenant);
    }
  }

  /**
   * Admits a new session of the tenant: its idle timeout within the tenant's cap (else a 400 naming
   * the field), and fewer sessions running than the limit (else a 429). `create` writes the
   * session's row in the same transaction, under the tenant's lock, so concurrent starts cannot
   * overshoot.
   *
   * A tenant's starts in this process also queue here, one transaction at a time: otherwise each would
   * hold a pooled connection while it waits for the tenant's lock, and a burst of one tenant's starts
   * (400 at once in the throughput bench) took every connection of the pool, until other requests,
   * other tenants' too, failed after the pool's connect timeout with a 500. Waiting here holds none.
   */
  async admitSession(tenantId: string, idleTimeoutSeconds: number, create: (trx: Db) => Promise<void>): Promise<void> {
    const limits = await this.limitsFor(tenantId);
    if (idleTimeoutSeconds > limits.idleTimeoutSeconds) {
      throw new ApiError(400, 'validation_failed', `invalid body: body.idleTimeoutSeconds: at most ${limits.idleTimeoutSeconds} for this tenant`, [
        { path: 'body.idleTimeoutSeconds', message: `at most ${limits.idleTimeoutSeconds} seconds for this tenant` },
      ]);
    }
    const before = this.#admissions.get(tenantId);
    const mine = (before ?? Promise.resolve()).then(() => this.#admit(tenantId, limits, create));
    const settled = mine.catch(() => undefined);
    this.#admissions.set(tenantId, settled);
    try {
      await mine;
    } finally {
      if (this.#admissions.get(tenantId) === settled) this.#admissions.delete(tenantId);
    }
  }

  async #admit(tenantId: string, limits: TenantLimits, create: (trx: Db) => Promise<void>): Promise<void> {
    await this.#o.db.transaction().execute(async (trx) => {
      await lockTenant(trx, tenantId, 'sessions');
      const running = await countRunningSessions(trx, tenantId);
      if (running >= limits.runningSessions) {
        throw new ApiError(
          429,
          'too_many_sessions',
          `tenant ${tenantId} has ${running} sessions running (the most is ${limits.runningSessions}); start another when one ends`,
          undefined,
          { 'retry-after': String(RETRY_WHEN_BUSY_SECONDS) },
        );
      }
      await create(trx);
    });
  }

  /** Opens one of the tenant's SSE streams (else a 429); call the returned function when it closes. */
  async openStream(tenantId: string): Promise<() => void> {
    const { sseStreams } = await this.limitsFor(tenantId);
    const open = this.#streams.get(tenantId) ?? 0;
    if (open >= sseStreams) {
      throw new ApiError(429, 'too_many_streams', `tenant ${tenantId} has ${open} event streams open (the most is ${sseStreams})`, undefined, {
        'retry-after': String(RETRY_WHEN_BUSY_SECONDS),
      });
    }
    this.#streams.set(tenantId, open + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.#streams.get(tenantId) ?? 1) - 1;
      if (left > 0) this.#streams.set(tenantId, left);
      else this.#streams.delete(tenantId);
    };
  }
}

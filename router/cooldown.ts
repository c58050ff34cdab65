/**
 * Cooldown of failing deployments (one provider's model), per worker process:
 * `failures` retryable failures within `windowSeconds` — or a rate limit with
 * Retry-After — take a deployment out of rotation until the cooldown ends.
 * Later calls skip it and go to their fallbacks; the first call after the
 * cooldown tries it again, and a success clears its record.
 */
import type { LlmErrorClass } from './errors.js';
import type { ModelPolicy } from './model-policy.js';

interface State {
  failures: number[];
  until: number;
  errorClass: LlmErrorClass;
}

/** Failure records and cooldowns of deployments (`provider/model`), in process memory. */
export class Cooldowns {
  readonly #states = new Map<string, State>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Milliseconds of cooldown left for the deployment, and the error class that caused it. */
  cooling(id: string): { remainingMs: number; errorClass: LlmErrorClass } | undefined {
    const s = this.#states.get(id);
    const left = s ? s.until - this.#now() : 0;
    return s && left > 0 ? { remainingMs: left, errorClass: s.errorClass } : undefined;
  }

  /** Counts a failure; true when it puts the deployment in cooldown. */
  failure(id: string, errorClass: LlmErrorClass, settings: ModelPolicy['cooldown'], retryAfterMs?: number): boolean {
    const now = this.#now();
    const s = this.#states.get(id) ?? { failures: [], until: 0, errorClass };
    s.errorClass = errorClass;
    s.failures = [...s.failures.filter((t) => t > now - settings.windowSeconds * 1000), now];
    this.#states.set(id, s);
    const wasCooling = s.until > now;
    if (errorClass === 'rate_limit' && retryAfterMs !== undefined && retryAfterMs > 0) s.until = Math.max(s.until, now + retryAfterMs);
    if (s.failures.length >= settings.failures) {
      s.until = Math.max(s.until, now + settings.cooldownSeconds * 1000);
      s.failures = [];
    }
    return !wasCooling && s.until > now;
  }

  /** A success: the deployment's record is cleared. */
  success(id: string): void {
    this.#states.delete(id);
  }
}

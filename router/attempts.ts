/**
 * Retries of one deployment inside one activity attempt.
 *
 * How the router's retries and Temporal's combine (never multiplied blindly):
 * - Inside one attempt the router retries a deployment only for the classes
 *   in `retries.retryOn`, at most `maxRetries` times, and only when the wait
 *   (backoff, or the provider's Retry-After) is at most `maxDelayMs`. A longer
 *   wait is not spent holding a worker slot: the router moves to the next
 *   deployment of the fallback chain, or gives the error to Temporal.
 * - The fallback chain tries each deployment at most once per attempt, and a
 *   deployment in cooldown is skipped.
 * - Temporal retries the whole activity (the workflow's retry policy) only for
 *   retryable classes, after `nextRetryDelay` = Retry-After or the end of the
 *   soonest cooldown when one is known. The cooldown makes later attempts skip
 *   a deployment that keeps failing instead of hammering it again.
 * So one step sends at most attempts × Σ(1 + maxRetries) over the chain, and in
 * practice one probe per deployment per cooldown period.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LlmError } from './errors.js';
import type { ModelPolicy } from './model-policy.js';

/** Counts upstream requests across retries. */
export interface AttemptCounter {
  count: number;
}

/** Calls `send`, retrying per the policy's retry settings; every upstream request is counted. */
export async function withRetries<T>(
  send: () => Promise<T>,
  settings: ModelPolicy['retries'],
  counter: AttemptCounter,
  signal?: AbortSignal,
  onFailure?: (err: LlmError) => void,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    counter.count++;
    try {
      return await send();
    } catch (err) {
      if (err instanceof LlmError) onFailure?.(err);
      if (!(err instanceof LlmError) || err.details.partial) throw err;
      const retryable = (settings.retryOn as readonly string[]).includes(err.errorClass);
      const delay = err.details.retryAfterMs ?? settings.initialDelayMs * 2 ** retry;
      if (!retryable || retry >= settings.maxRetries || delay > settings.maxDelayMs) throw err;
      await sleep(delay, undefined, signal ? { signal } : {});
    }
  }
}

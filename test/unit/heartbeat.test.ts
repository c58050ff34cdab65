/**
 * withHeartbeat (activities/heartbeat.ts): a quick activity sends no heartbeat at all (each one the server
 * takes is a write of the workflow's state), a long one beats from its first interval on, before half its
 * heartbeat timeout, and no beat comes after the work ends.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { firstHeartbeatMs, withHeartbeat } from '../../activities/heartbeat.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('withHeartbeat', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Runs `work` in an activity whose heartbeat timeout is `timeoutMs`; the beats' times, from the start. */
  async function beatsOf(work: () => Promise<unknown>, everyMs: number, timeoutMs?: number, runForMs = 10_000) {
    const env = new MockActivityEnvironment(timeoutMs ? { heartbeatTimeoutMs: timeoutMs } : {});
    const at: number[] = [];
    const start = Date.now();
    env.on('heartbeat', () => at.push(Date.now() - start));
    const done = env.run(() => withHeartbeat(work, everyMs));
    await vi.advanceTimersByTimeAsync(runForMs);
    await done;
    return at;
  }

  it('sends no heartbeat for work that ends before the first interval', async () => {
    expect(await beatsOf(() => sleep(1_999), 2_000, 30_000)).toEqual([]);
    expect(await beatsOf(async () => 'at once', 2_000)).toEqual([]);
  });

  it('beats every interval while the work runs, and not after it ends', async () => {
    expect(await beatsOf(() => sleep(7_000), 2_000, 30_000)).toEqual([2_000, 4_000, 6_000]);
  });

  it('beats first at half the heartbeat timeout where that comes before the interval', async () => {
    expect(firstHeartbeatMs(2_000, 3_000)).toBe(1_500);
    expect(firstHeartbeatMs(2_000, 30_000)).toBe(2_000);
    expect(firstHeartbeatMs(2_000, undefined)).toBe(2_000);
    expect(await beatsOf(() => sleep(5_000), 2_000, 3_000)).toEqual([1_500, 3_500]);
  });

  it('returns what the work returns and passes its error on', async () => {
    const env = new MockActivityEnvironment();
    expect(await env.run(() => withHeartbeat(async () => 42, 2_000))).toBe(42);
    await expect(env.run(() => withHeartbeat(() => Promise.reject(new Error('boom')), 2_000))).rejects.toThrow('boom');
  });
});

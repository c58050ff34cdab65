/**
 * The claimSandbox activity while the pool makes it wait: it heartbeats (a long
 * wait is a live worker), and a claim that found no container within the wait
 * asks Temporal to retry it soon, so it is back before the place the pool
 * keeps for it in line (sandbox/pool-queue.ts) is given up; a cancelled claim
 * gives up its wait (and any container it got) and ends cancelled.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createSandboxActivities } from '../../activities/sandbox-activities.js';
import type { Db } from '../../db/client.js';
import { PoolExhaustedError, type DockerSandboxHost } from '../../sandbox/docker-host.js';
import { KEPT_PLACE_MS } from '../../sandbox/pool-queue.js';

const input = { session: { sessionId: 'ses_1', tenantId: 'tenant-1', createdAt: '2026-01-01T00:00:00.000Z' } };

/** The activities on a host whose claim is `claim` (nothing else is reached by claimSandbox here). */
function activitiesWith(claim: DockerSandboxHost['claim']) {
  const host = { hostId: 'host-a', claim, useEgressGrants: () => undefined } as unknown as DockerSandboxHost;
  return createSandboxActivities({ db: {} as Db, host, hostQueue: 'sandbox-host-a' });
}

describe('claimSandbox', () => {
  it('heartbeats while the pool makes the claim wait', async () => {
    // The first beat comes at half the heartbeat timeout (activities/heartbeat.ts): 20 ms here.
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 40 });
    let beats = 0;
    env.on('heartbeat', () => beats++);
    let beatsWhileWaiting = 0;
    const { claimSandbox } = activitiesWith(async () => {
      await new Promise((r) => setTimeout(r, 100));
      beatsWhileWaiting = beats;
      return { containerId: 'c1', created: true, replacedStopped: false, source: 'cold', waited: true };
    });
    expect(await env.run(claimSandbox, input)).toMatchObject({ containerId: 'c1', taskQueue: 'sandbox-host-a' });
    expect(beatsWhileWaiting).toBeGreaterThan(0);
  });

  it('asks for a retry soon, well within the time its place in line is kept, when no container came in time', async () => {
    const env = new MockActivityEnvironment();
    const { claimSandbox } = activitiesWith(async () => {
      throw new PoolExhaustedError('no sandbox free on this host within 60000 ms');
    });
    const err: unknown = await env.run(claimSandbox, input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure).toMatchObject({ type: 'SandboxPoolExhausted', nonRetryable: false });
    expect(failure.nextRetryDelay).toBeDefined();
    expect(msToNumber(failure.nextRetryDelay ?? 0)).toBeLessThan(KEPT_PLACE_MS / 2);
  });

  it('gives the claim its cancellation, and ends cancelled when the claim gives up', async () => {
    const env = new MockActivityEnvironment();
    let given: AbortSignal | undefined;
    const { claimSandbox } = activitiesWith(async (_session, _options, signal) => {
      given = signal;
      // As the pool does: the wait ends with the reason the signal aborted with.
      return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error)));
    });
    const run = env.run(claimSandbox, input).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    expect(given).toBeInstanceOf(AbortSignal);
    env.cancel();
    expect(await run).toBeInstanceOf(CancelledFailure);
  });
});

/**
 * Graceful shutdown of a worker process (temporal/worker-main.ts): SIGTERM
 * while a tool runs turns /readyz to 503 (draining), lets the in-flight
 * activity finish and record its result, and exits 0. The session then
 * completes on a new worker, without running the tool again.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { EVENT_TYPES } from '../../domain/events.js';
import { freePort } from '../../temporal/dev-server.js';
import { readAllEvents, startSession, waitForStatus } from '../support/sessions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { WorkerProcess } from '../support/worker-process.js';

const services = inject('services');
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

async function events(stack: Stack, id: string) {
  return stack.db.selectFrom('session_events').select(['type', 'created_at']).where('session_id', '=', id).orderBy('seq').execute();
}

describe('a worker stopped with SIGTERM mid tool run', () => {
  it('drains: the running tool finishes and is recorded, the process exits 0, and a new worker completes the session', async () => {
    const stack = await startStack(services, { workers: false });
    cleanups.push(() => stack.close());
    const healthPort = await freePort();
    const worker = new WorkerProcess({ ...stack.env, WORKER_HEALTH_PORT: String(healthPort) }, join(services.tmpDir, 'worker-sigterm.log'));
    cleanups.push(() => worker.kill());
    await worker.start();

    // slow-tool runs `sleep 4 && echo slept >> /workspace/slow.log && cat /workspace/slow.log`.
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'slow-tool' } });
    await waitFor(async () => (await events(stack, session.id)).some((e) => e.type === EVENT_TYPES.toolStarted), 30_000, 'the tool to start');
    expect((await events(stack, session.id)).some((e) => e.type === EVENT_TYPES.toolResult)).toBe(false);

    const signalledAt = Date.now();
    const exited = worker.stop();
    // While it drains, the worker says so to load balancers and orchestrators.
    const readiness = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
        return res.status === 503 ? ((await res.json()) as { draining: boolean }) : undefined;
      },
      3_000,
      '/readyz to answer 503 while draining',
    );
    expect(readiness.draining).toBe(true);

    expect(await exited).toBe(0);
    const exitedAt = Date.now();
    // The tool's result was written by the draining worker: no other worker ran.
    const afterExit = await events(stack, session.id);
    const result = afterExit.find((e) => e.type === EVENT_TYPES.toolResult);
    expect(result, 'tool.result recorded before the worker exited').toBeDefined();
    expect(result?.created_at.getTime()).toBeGreaterThanOrEqual(signalledAt - 1_000);
    expect(result?.created_at.getTime()).toBeLessThanOrEqual(exitedAt);
    // Nothing after the tool ran on the stopped worker: the session waits for the next one.
    expect((await waitForStatus(stack, session.id, ['running'], 5_000)).status).toBe('running');

    const replacement = new WorkerProcess(stack.env, join(services.tmpDir, 'worker-sigterm-2.log'));
    cleanups.push(() => replacement.kill());
    await replacement.start();
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    // One line in the log: the tool ran once.
    expect(done.finalAnswer).toBe('slept\n');
    const all = await readAllEvents(stack, session.id);
    expect(all.filter((e) => e.type === EVENT_TYPES.toolStarted)).toHaveLength(1);
    expect(all.filter((e) => e.type === EVENT_TYPES.toolResult)).toHaveLength(1);
    expect(await replacement.stop()).toBe(0);
  });
});

/**
 * Heartbeats as the Temporal server receives them (activities/heartbeat.ts; issue 16). Each heartbeat the server
 * takes is a write of the workflow's mutable state, so a quick step (model call and tool call) sends none; a slow
 * model call and a slow tool call, longer than the heartbeat timeout, beat while they run and are not timed out
 * for want of a beat (the server counts that timeout from the attempt's start until the first beat comes).
 * Counted from the server's own /metrics on a dev server of this file's own, so no other test's activities count.
 * The server publishes its counters a while after it counts (its metrics reporter flushes them), so each check
 * first waits until the session's own activity completions show there: a beat comes before its activity's end.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSnapshot } from '../../bench/cpu-profile.js';
import { TemporalDevServer } from '../../temporal/dev-server.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { startSession, waitForStatus } from '../support/sessions.js';

const services = inject('services');
let server: TemporalDevServer;
let stack: Stack;

beforeAll(async () => {
  server = await TemporalDevServer.start({
    cli: services.temporalCli,
    dbFile: join(services.tmpDir, 'heartbeats-temporal.db'),
    uiPort: null,
    logFile: join(services.tmpDir, 'heartbeats-temporal.log'),
  });
  stack = await startStack(services, { env: { TEMPORAL_ADDRESS: server.address }, tuning: { heartbeatTimeoutMs: 3_000 } });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await server?.stop();
});

/** How many requests of `operation` the server's frontend has answered, from its /metrics (as the bench reads them). */
async function served(operation: string): Promise<number> {
  const { requests } = await serverSnapshot([`http://${server.ip}:${server.metricsPort}/metrics`]);
  return requests.get(operation) ?? 0;
}

/** The session's activity completions (every attempt that ran to its end, from its history). */
async function completions(id: string): Promise<{ completed: number; attempts: number[] }> {
  const events = (await stack.temporal.workflow.getHandle(id).fetchHistory()).events ?? [];
  return {
    completed: events.filter((e) => e.activityTaskCompletedEventAttributes).length,
    // A started event records the attempt that ended the activity.
    attempts: events.flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 0] : [])),
  };
}

/** Waits until the server's /metrics show at least `n` more activity completions than `before`. */
async function completionsPublished(before: number, n: number): Promise<void> {
  await waitFor(async () => (await served('RespondActivityTaskCompleted')) - before >= n, 30_000, `${n} activity completions on the server's /metrics`);
}

describe('activity heartbeats', () => {
  it('a session of quick steps sends the server no heartbeat', async () => {
    const completedBefore = await served('RespondActivityTaskCompleted');
    const beatsBefore = await served('RecordActivityTaskHeartbeat');
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step' } });
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toContain('Finished after');
    // The claim, three model calls with three tool calls, and the last model call, at least: activities did run.
    const { completed } = await completions(session.id);
    expect(completed).toBeGreaterThanOrEqual(8);
    await completionsPublished(completedBefore, completed);
    expect((await served('RecordActivityTaskHeartbeat')) - beatsBefore).toBe(0);
  });

  it.each([
    ['a model call', 'slow-model', 'once\n'],
    ['a tool call', 'slow-tool', 'slept\n'],
  ])('%s longer than the heartbeat timeout beats while it runs and is not timed out', async (_, scenario, answer) => {
    const completedBefore = await served('RespondActivityTaskCompleted');
    const beatsBefore = await served('RecordActivityTaskHeartbeat');
    const session = await startSession(stack, { message: 'go', metadata: { scenario } });
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    // Ran once: a heartbeat timeout would have run it again, and the log would hold two lines.
    expect(done.finalAnswer).toBe(answer);
    // Every activity completed in its first attempt.
    const { completed, attempts } = await completions(session.id);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(attempts.every((a) => a === 1)).toBe(true);
    await completionsPublished(completedBefore, completed);
    expect((await served('RecordActivityTaskHeartbeat')) - beatsBefore).toBeGreaterThan(0);
  });
});

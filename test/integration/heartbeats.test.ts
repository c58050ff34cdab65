/**
 * Heartbeats as the Temporal server receives them (activities/heartbeat.ts; issue 16). Each heartbeat the server
 * takes is a write of the workflow's mutable state, so a quick step (model call and tool call) sends none; a slow
 * model call and a slow tool call, longer than the heartbeat timeout, beat while they run and are not timed out
 * for want of a beat (the server counts that timeout from the attempt's start until the first beat comes).
 * Counted from the server's own /metrics on a dev server of this file's own, so no other test's activities count.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TemporalDevServer } from '../../temporal/dev-server.js';
import { startStack, type Stack } from '../support/stack.js';
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

/** How many requests of `operation` the server's frontend has answered, from its /metrics. */
async function served(operation: string): Promise<number> {
  const text = await (await fetch(`http://${server.ip}:${server.metricsPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^service_requests(?:_total)?\{([^}]*)\} ([\d.e+-]+)$/.exec(line);
    if (m && m[1]?.includes(`operation="${operation}"`)) total += Number(m[2]);
  }
  return total;
}

describe('activity heartbeats', () => {
  it('a session of quick steps sends the server no heartbeat', async () => {
    const completedBefore = await served('RespondActivityTaskCompleted');
    const beatsBefore = await served('RecordActivityTaskHeartbeat');
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step' } });
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toContain('Finished after');
    // The claim, three model calls with three tool calls, and the last model call: activities did run.
    expect((await served('RespondActivityTaskCompleted')) - completedBefore).toBeGreaterThanOrEqual(7);
    expect((await served('RecordActivityTaskHeartbeat')) - beatsBefore).toBe(0);
  });

  it.each([
    ['a model call', 'slow-model', 'once\n'],
    ['a tool call', 'slow-tool', 'slept\n'],
  ])('%s longer than the heartbeat timeout beats while it runs and is not timed out', async (_, scenario, answer) => {
    const beatsBefore = await served('RecordActivityTaskHeartbeat');
    const session = await startSession(stack, { message: 'go', metadata: { scenario } });
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    // Ran once: a heartbeat timeout would have run it again, and the log would hold two lines.
    expect(done.finalAnswer).toBe(answer);
    expect((await served('RecordActivityTaskHeartbeat')) - beatsBefore).toBeGreaterThan(0);
    // Every activity completed in its first attempt (a started event records the attempt that ended it).
    const events = (await stack.temporal.workflow.getHandle(session.id).fetchHistory()).events ?? [];
    const attempts = events.flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : []));
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(attempts.every((a) => a === 1)).toBe(true);
  });
});

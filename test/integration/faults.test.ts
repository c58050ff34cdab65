/**
 * Sessions survive crashes: a worker killed with SIGKILL mid-step, the
 * Temporal server stopped and started again on the same SQLite file, and
 * Postgres unreachable for a while. Each tool runs once; no event is lost or
 * doubled.
 */
import { join } from 'node:path';
import proto from '@temporalio/proto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { TemporalDevServer } from '../../temporal/dev-server.js';
import { activitiesScheduled, localActivityTypes } from '../support/history-events.js';
import { countMockRequests } from '../support/mock-llm-stats.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { WorkerProcess } from '../support/worker-process.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { json, readAllEvents, startSession, vote, waitForClosed, waitForGate, waitForStatus, type SseEvent } from '../support/sessions.js';

const services = inject('services');
const { PendingActivityState, TimeoutType } = proto.temporal.api.enums.v1;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const mockRequests = (scenario: string) => countMockRequests(services, scenario);

/** Each event once, numbered 1..n, each step's events once. */
function expectCleanEventLog(events: SseEvent[]) {
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  const keys = events.map((e) => `${e.type}:${String(e.data.seq ?? '')}:${String(e.data.gateId ?? '')}:${String(e.data.approver ?? '')}`);
  expect(new Set(keys).size).toBe(keys.length);
  expect(events.filter((e) => e.type === 'session.ended')).toHaveLength(1);
}

async function eventTypes(stack: Stack, id: string): Promise<string[]> {
  const rows = await stack.db.selectFrom('session_events').select(['type']).where('session_id', '=', id).orderBy('seq').execute();
  return rows.map((r) => r.type);
}

describe('a worker killed with SIGKILL', () => {
  // A local one (tuning.localModelCalls) runs inside the worker's workflow task: that task times out and the
  // replacement runs the call again.
  it.each([
    ['a regular activity', false],
    ['a local activity', true],
  ])('mid model call (%s): the session completes, the tool ran once', async (_, localModelCalls) => {
    const stack = await startStack(services, { workers: false, tuning: { heartbeatTimeoutMs: 3_000, localModelCalls } });
    cleanups.push(() => stack.close());
    const worker = new WorkerProcess(stack.env, join(services.tmpDir, `worker-kill-llm-${localModelCalls}.log`));
    cleanups.push(() => worker.kill());
    await worker.start();

    const before = await mockRequests('slow-model');
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'slow-model' } });
    await waitFor(async () => (await mockRequests('slow-model')) > before, 20_000, 'the model call to start');
    await worker.kill();

    const replacement = new WorkerProcess(stack.env, join(services.tmpDir, `worker-kill-llm-${localModelCalls}-2.log`));
    cleanups.push(() => replacement.kill());
    await replacement.start();
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    // The command appends a line and prints the file: one line means one run.
    expect(done.finalAnswer).toBe('once\n');
    const events = await readAllEvents(stack, session.id);
    expectCleanEventLog(events);
    expect(events.filter((e) => e.type === 'tool.started')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'llm.response')).toHaveLength(2);
    // The setting reached the session: its two calls are local-activity markers, or activities, not both.
    await waitForClosed(stack, session.id);
    const history = (await stack.temporal.workflow.getHandle(session.id).fetchHistory()).events ?? [];
    const llmActivities = activitiesScheduled(history, 'llmStep');
    const localCalls = localActivityTypes(history).length;
    expect({ llmActivities, localCalls }).toEqual(localModelCalls ? { llmActivities: 0, localCalls: 2 } : { llmActivities: 2, localCalls: 0 });
    await replacement.stop();
  });

  it('mid tool run: the retried activity waits for the first run instead of running it again', async () => {
    const stack = await startStack(services, { workers: false, tuning: { heartbeatTimeoutMs: 3_000 } });
    cleanups.push(() => stack.close());
    const worker = new WorkerProcess(stack.env, join(services.tmpDir, 'worker-kill-tool.log'));
    cleanups.push(() => worker.kill());
    await worker.start();

    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'slow-tool' } });
    await waitFor(async () => (await eventTypes(stack, session.id)).includes('tool.started'), 30_000, 'the tool to start');
    await worker.kill();

    const replacement = new WorkerProcess(stack.env, join(services.tmpDir, 'worker-kill-tool-2.log'));
    cleanups.push(() => replacement.kill());
    await replacement.start();
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe('slept\n');
    const events = await readAllEvents(stack, session.id);
    expectCleanEventLog(events);
    expect(events.filter((e) => e.type === 'tool.result')).toHaveLength(1);
    await replacement.stop();
  });

  it('mid sandbox claim: the claim is tried again after its heartbeat timeout, not its 2-minute attempt timeout', async () => {
    // A pool of one sandbox: the first session holds it (its tool sleeps 12 s), so the second one's claim waits its turn.
    const stack = await startStack(services, {
      workers: false,
      env: { SANDBOX_POOL_MAX_TOTAL: '1', SANDBOX_POOL_MIN_IDLE: '1' },
      tuning: { heartbeatTimeoutMs: 3_000 },
    });
    cleanups.push(() => stack.close());
    const worker = new WorkerProcess(stack.env, join(services.tmpDir, 'worker-kill-claim.log'));
    cleanups.push(() => worker.kill());
    await worker.start();

    const holder = await startSession(stack, { message: 'go', metadata: { scenario: 'hold-sandbox' } });
    await waitFor(async () => (await eventTypes(stack, holder.id)).includes('tool.started'), 30_000, 'the first session to hold the sandbox');
    const waiter = await startSession(stack, { message: 'say hello from the sandbox', metadata: { scenario: 'safe-shell' } });
    const waiterHandle = stack.temporal.workflow.getHandle(waiter.id);
    const claimRunning = async () => {
      const { raw } = await waiterHandle.describe();
      return (raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'claimSandbox' && a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED);
    };
    await waitFor(claimRunning, 30_000, "the second session's claim to wait in the pool");
    await worker.kill();

    const replacement = new WorkerProcess(stack.env, join(services.tmpDir, 'worker-kill-claim-2.log'));
    cleanups.push(() => replacement.kill());
    await replacement.start();
    // 90 s: less than the claim's 2-minute start-to-close timeout, after which it would be tried again without the fix.
    const done = await waitForStatus(stack, waiter.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toContain('hello from');
    expect((await waitForStatus(stack, holder.id)).finalAnswer).toBe('held\n');
    // The dead worker's attempt ended by its heartbeat timeout: the attempt that completed says so.
    const history = (await waiterHandle.fetchHistory()).events ?? [];
    const claimStarts = history.filter((e) => {
      const scheduled = history.find((s) => s.eventId?.toString() === e.activityTaskStartedEventAttributes?.scheduledEventId?.toString());
      return scheduled?.activityTaskScheduledEventAttributes?.activityType?.name === 'claimSandbox';
    });
    expect(claimStarts).toHaveLength(1);
    const started = claimStarts[0]?.activityTaskStartedEventAttributes;
    expect(started?.attempt).toBeGreaterThan(1);
    expect(started?.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
    await replacement.stop();
  });
});

describe('every worker killed while a gate waits', () => {
  it('the gate still opens on the later approvals', async () => {
    const stack = await startStack(services, { workers: false, tuning: { heartbeatTimeoutMs: 3_000 } });
    cleanups.push(() => stack.close());
    const worker = new WorkerProcess(stack.env, join(services.tmpDir, 'worker-gate.log'));
    cleanups.push(() => worker.kill());
    await worker.start();

    const session = await startSession(stack, { message: 'delete the scratch file' });
    const gate = await waitForGate(stack, session.id);
    await worker.kill();
    // No worker at all: the first approval is accepted by the server and waits for one.
    const first = vote(stack, session.id, gate.id, 'bob');

    const replacement = new WorkerProcess(stack.env, join(services.tmpDir, 'worker-gate-2.log'));
    cleanups.push(() => replacement.kill());
    await replacement.start();
    expect(await json(await first)).toMatchObject({ counted: true, gate: { status: 'open' } });
    expect(await json(await vote(stack, session.id, gate.id, 'carol'))).toMatchObject({ counted: true, gate: { status: 'approved' } });
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toContain('removed');
    expectCleanEventLog(await readAllEvents(stack, session.id));
    await replacement.stop();
  });
});

describe('the Temporal server stopped and started again', () => {
  it('sessions in flight, one of them waiting for approval, go on', async () => {
    const server = await TemporalDevServer.start({
      cli: services.temporalCli,
      dbFile: join(services.tmpDir, 'restart-temporal.db'),
      uiPort: null,
      logFile: join(services.tmpDir, 'restart-temporal.log'),
    });
    cleanups.push(() => server.stop());
    const stack = await startStack(services, { env: { TEMPORAL_ADDRESS: server.address }, tuning: { heartbeatTimeoutMs: 3_000 } });
    cleanups.push(() => stack.close());

    const waiting = await startSession(stack, { message: 'delete the scratch file' });
    const gate = await waitForGate(stack, waiting.id);
    const running = await startSession(stack, { message: 'go', metadata: { scenario: 'slow-model' } });

    await server.stop();
    await new Promise((r) => setTimeout(r, 1_000));
    await server.restart();

    // The client reconnects by itself; the gate is still open and still counts.
    expect(await json(await waitFor(async () => {
      const res = await vote(stack, waiting.id, gate.id, 'bob');
      return res.status === 200 ? res : undefined;
    }, 60_000, 'the first approval after the restart'))).toMatchObject({ counted: true });
    expect((await vote(stack, waiting.id, gate.id, 'carol')).status).toBe(200);

    const doneWaiting = await waitForStatus(stack, waiting.id, undefined, 90_000);
    expect(doneWaiting.status).toBe('completed');
    expect(doneWaiting.finalAnswer).toContain('removed');
    const doneRunning = await waitForStatus(stack, running.id, undefined, 90_000);
    expect(doneRunning.finalAnswer).toBe('once\n');
    expectCleanEventLog(await readAllEvents(stack, waiting.id));
    expectCleanEventLog(await readAllEvents(stack, running.id));
  });
});

describe('Postgres unreachable', () => {
  it('/readyz says so, activities retry, and the session completes when it returns', async () => {
    const target = new URL(services.databaseUrl);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    cleanups.push(() => proxy.close());
    const viaProxy = new URL(services.databaseUrl);
    viaProxy.port = String(proxy.port);
    const stack = await startStack(services, { databaseUrl: viaProxy.toString(), tuning: { heartbeatTimeoutMs: 3_000 } });
    cleanups.push(() => stack.close());

    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'slow-model' } });
    proxy.cut();

    const ready = await stack.app.request('/readyz');
    expect(ready.status).toBe(503);
    const report = await json<{ dependencies: { name: string; ok: boolean }[] }>(ready);
    expect(report.dependencies.find((d) => d.name === 'postgres')).toMatchObject({ ok: false });
    expect(report.dependencies.find((d) => d.name === 'temporal')).toMatchObject({ ok: true });

    // Long enough for the model call to finish and its write to fail and retry.
    await new Promise((r) => setTimeout(r, 6_000));
    proxy.restore();

    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe('once\n');
    expectCleanEventLog(await readAllEvents(stack, session.id));
    expect((await stack.app.request('/readyz')).status).toBe(200);
  });
});

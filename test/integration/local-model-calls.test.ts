/**
 * Model calls as local activities (tuning.localModelCalls, SESSION_LOCAL_MODEL_CALLS; issue 16): the same
 * session as with regular activities, with one activity task and one workflow task fewer per step, and a history
 * that replays on the current code; a cancel is taken when the call returns, or at the workflow task's heartbeat.
 * (A worker killed in the middle of such a call: test/integration/faults.test.ts.)
 */
import proto, { type temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { replayHistories } from '../../temporal/replay.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { LOCAL_MODEL_CALLS_PATCH } from '../../workflows/session-patches.js';
import { activitiesScheduled, localActivityTypes, patchIds } from '../support/history-events.js';
import { countMockRequests } from '../support/mock-llm-stats.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { getSession, readAllEvents, startSession, toolResults, waitForClosed, waitForStatus } from '../support/sessions.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { EventType } = proto.temporal.api.enums.v1;

let regular: Stack;
let local: Stack;

beforeAll(async () => {
  [regular, local] = await Promise.all([
    startStack(inject('services')),
    // Through the setting, as production sets it: the API puts it into each new session's tuning (api/build.ts).
    startStack(inject('services'), { env: { SESSION_LOCAL_MODEL_CALLS: 'true' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([regular?.close(), local?.close()]);
});

async function closedHistory(stack: Stack, id: string) {
  await waitForClosed(stack, id);
  return stack.temporal.workflow.getHandle(id).fetchHistory();
}

const count = (events: HistoryEvent[], type: number) => events.filter((e) => e.eventType === type).length;

/** Starts a session of `scenario` and sends a cancel once the mock has its model call. */
async function cancelDuringCall(scenario: string): Promise<string> {
  const before = await countMockRequests(inject('services'), scenario);
  const session = await startSession(local, { message: 'go', metadata: { scenario } });
  await waitFor(async () => (await countMockRequests(inject('services'), scenario)) > before, 30_000, 'the model call to start');
  expect((await local.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', { reason: 'too slow' })).status).toBe(202);
  return session.id;
}

describe('model calls as local activities', () => {
  it('give the same session with one activity task and one workflow task fewer per step, and the history replays', async () => {
    const body = { message: 'go', metadata: { scenario: 'multi-step' } };
    const [a, b] = await Promise.all([startSession(regular, body), startSession(local, body)]);
    const [doneA, doneB] = await Promise.all([waitForStatus(regular, a.id), waitForStatus(local, b.id)]);
    for (const done of [doneA, doneB]) {
      expect(done.status).toBe('completed');
      expect(done.finalAnswer).toBe('Finished after 3 turns: 3\n');
      expect(done.usage).toMatchObject({ llmCalls: 4, toolCalls: 3 });
    }
    // The same records in the store: the step's answers, the three runs, in the same order.
    const types = async (stack: Stack, id: string) => (await readAllEvents(stack, id)).map((e) => e.type);
    expect(await types(local, b.id)).toEqual(await types(regular, a.id));
    expect((await toolResults(local, b.id)).map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n']);

    const [historyA, historyB] = await Promise.all([closedHistory(regular, a.id), closedHistory(local, b.id)]);
    const eventsA = historyA.events ?? [];
    const eventsB = historyB.events ?? [];
    expect(activitiesScheduled(eventsA, 'llmStep')).toBe(4);
    expect(activitiesScheduled(eventsB, 'llmStep')).toBe(0);
    expect(localActivityTypes(eventsA)).toEqual([]);
    expect(patchIds(eventsA)).not.toContain(LOCAL_MODEL_CALLS_PATCH);
    expect(localActivityTypes(eventsB)).toEqual(['llmStep', 'llmStep', 'llmStep', 'llmStep']);
    expect(patchIds(eventsB)).toContain(LOCAL_MODEL_CALLS_PATCH);
    // The tool runs are still activities of their own on the sandbox host's queue.
    expect(activitiesScheduled(eventsB, 'execTool')).toBe(3);
    const tasks = (events: HistoryEvent[]) => count(events, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    const activities = (events: HistoryEvent[]) => count(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    expect(activities(eventsA) - activities(eventsB)).toBe(4);
    expect(tasks(eventsA) - tasks(eventsB)).toBeGreaterThanOrEqual(3);

    const outcomes = await replayHistories(
      [
        { name: 'regular', workflowId: a.id, history: historyA },
        { name: 'local', workflowId: b.id, history: historyB },
      ],
      await loadWorkflowBundle(),
    );
    expect(outcomes.map((o) => [o.name, o.ok, o.error])).toEqual([
      ['regular', true, undefined],
      ['local', true, undefined],
    ]);
  });

  // A local call runs inside a workflow task: a signal (the cancel) or a query that comes meanwhile waits for the
  // call to return, or for the task's heartbeat (the worker completes the task at 80 % of its 10 s timeout).
  // Each waits for the mock to have the call (its scenario is this file's alone) and then sends the cancel.
  it('a cancel during a short model call is taken when the call returns: the session ends cancelled, the answer stored', async () => {
    const id = await cancelDuringCall('cancel-in-model');
    const done = await waitForStatus(local, id);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBe('cancelled by alice: too slow');
    const types = (await readAllEvents(local, id)).map((e) => e.type);
    // The call ran to its end (a regular activity would have been stopped at its next heartbeat).
    expect(types.filter((t) => t === 'llm.response')).toHaveLength(1);
    expect(types.filter((t) => t === 'session.ended')).toHaveLength(1);
  });

  it('a cancel during a call longer than the task timeout reaches it at the task heartbeat: the call is stopped', async () => {
    const id = await cancelDuringCall('long-model');
    const done = await waitForStatus(local, id);
    expect(done.status).toBe('cancelled');
    // The twenty-second call was stopped before its end: its answer was never stored. Without the heartbeat the
    // cancel would have waited for the answer.
    const types = (await readAllEvents(local, id)).map((e) => e.type);
    expect(types).not.toContain('llm.response');
    expect(types.filter((t) => t === 'session.ended')).toHaveLength(1);
    // And it was a local call (a regular one is stopped through its own heartbeat).
    const events = (await closedHistory(local, id)).events ?? [];
    expect(activitiesScheduled(events, 'llmStep')).toBe(0);
    expect(patchIds(events)).toContain(LOCAL_MODEL_CALLS_PATCH);
  });

  // GET /v1/sessions/:id reads Postgres, not the workflow (a query would wait for the call, as the cancel does).
  it('a GET during a model call answers at once from Postgres: the call has not returned when it answers', async () => {
    const scenario = 'look-during-model';
    const before = await countMockRequests(inject('services'), scenario);
    const session = await startSession(local, { message: 'go', metadata: { scenario } });
    await waitFor(async () => (await countMockRequests(inject('services'), scenario)) > before, 30_000, 'the model call to start');
    const during = await getSession(local, session.id);
    expect(during).toMatchObject({ status: 'running', step: 0, usage: { llmCalls: 0, toolCalls: 0 }, pendingApprovals: [] });
    // The four-second call had not returned when that answer came: its answer is not stored yet. A query would
    // have waited for the call (the workflow task that runs it), and the answer would be here.
    const stored = await local.db.selectFrom('session_events').select('type').where('session_id', '=', session.id).orderBy('seq').execute();
    expect(stored.map((e) => e.type)).toEqual(['session.started', 'message.user']);
    const done = await waitForStatus(local, session.id);
    expect(done).toMatchObject({ status: 'completed', finalAnswer: 'looked', step: 1, usage: { llmCalls: 1, toolCalls: 0 } });
  });
});

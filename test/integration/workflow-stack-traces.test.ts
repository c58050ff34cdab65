/**
 * WORKER_WORKFLOW_STACK_TRACES (temporal/workflow-stack-traces.ts; issue 16): a sessions worker built with it false,
 * as temporal/worker-main.ts builds one, runs the same session without the SDK's stack-trace promise hook. The
 * `__stack_trace` query (the Temporal UI's "Stack Trace" tab) answers "not enabled" there, and with the stack traces
 * of a worker of the default setting it shows where the session waits; both sessions end the same and replay.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { replayHistories } from '../../temporal/replay.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { stateQuery } from '../../workflows/definitions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { startSession, waitForClosed, waitForEvent, waitForStatus } from '../support/sessions.js';

let traced: Stack;
let untraced: Stack;

beforeAll(async () => {
  // One after the other: while a worker without stack traces is created, every SDK workflow thread this process starts gets the preload.
  traced = await startStack(inject('services'));
  untraced = await startStack(inject('services'), { env: { WORKER_WORKFLOW_STACK_TRACES: 'false' } });
});
afterAll(async () => {
  await Promise.all([traced?.close(), untraced?.close()]);
});

/** A session that answered and now waits for a follow-up message. */
async function waitingSession(stack: Stack): Promise<string> {
  const session = await startSession(stack, { message: 'hi', idleTimeoutSeconds: 600 });
  await waitForEvent(stack, session.id, 'llm.response');
  return session.id;
}

describe('workflow stack traces', () => {
  it('answer where a session waits with the default setting, "not enabled" without them, and both sessions replay', async () => {
    const a = await waitingSession(traced);
    const b = await waitingSession(untraced);

    const stack = await waitFor(() => traced.temporal.workflow.getHandle(a).query<string>('__stack_trace'), 30_000, 'the stack trace');
    // Source-mapped to the TypeScript of the wait for a follow-up message.
    expect(stack).toMatch(/workflows[\\/]session-loop\.ts/);
    await expect(untraced.temporal.workflow.getHandle(b).query('__stack_trace')).rejects.toThrow(/stack traces are not enabled/);
    // Other queries and signals reach it as before.
    expect(await untraced.temporal.workflow.getHandle(b).query(stateQuery)).toMatchObject({ sessionId: b, step: 1 });

    for (const [s, id] of [
      [traced, a],
      [untraced, b],
    ] as const) {
      expect((await s.api('POST', `/v1/sessions/${id}/cancel`, 'alice', { reason: 'done' })).status).toBe(202);
      expect((await waitForStatus(s, id, ['cancelled'], 30_000)).status).toBe('cancelled');
      await waitForClosed(s, id);
    }
    const [historyA, historyB] = await Promise.all([traced.temporal.workflow.getHandle(a).fetchHistory(), untraced.temporal.workflow.getHandle(b).fetchHistory()]);
    const types = (h: typeof historyA) => (h.events ?? []).map((e) => e.eventType);
    expect(types(historyB)).toEqual(types(historyA));
    const outcomes = await replayHistories(
      [
        { name: 'traced', workflowId: a, history: historyA },
        { name: 'untraced', workflowId: b, history: historyB },
      ],
      await loadWorkflowBundle(),
    );
    expect(outcomes.map((o) => [o.name, o.ok, o.error])).toEqual([
      ['traced', true, undefined],
      ['untraced', true, undefined],
    ]);
  });
});

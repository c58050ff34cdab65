/**
 * Workflow-level tests of `agentSession` (issue 11): the real workflow, its signals, query and Update on a
 * real Temporal dev server, every activity mocked (test/workflow/harness.ts). Gates approved N-of-M through
 * the Update with signed votes, gates that time out (deny, fail), cancel at a gate and during a tool run,
 * and continue-as-new with its state carried over. Each test is its own session; they run concurrently.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { Context } from '@temporalio/activity';
import { Client, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signVote } from '../../activities/vote-proof.js';
import { REPO_ROOT } from '../../config/index.js';
import { clientInterceptors } from '../../temporal/client.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { replayHistories } from '../../temporal/replay.js';
import type { agentSession } from '../../workflows/agent-session.js';
import {
  approveUpdate,
  cancelSignal,
  stateQuery,
  userMessageSignal,
  type ApprovalVote,
  type GateView,
  type SessionStateView,
  type SessionTuning,
} from '../../workflows/definitions.js';
import { BLOCKING_COMMAND, FAILING_COMMAND, HOST_QUEUE, Harness, SANDBOX_QUEUE, SESSIONS_QUEUE, VOTE_KEY, answer, shell, type Script } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => {
  await h?.close();
});

type Session = WorkflowHandle<typeof agentSession>;
type Started = WorkflowHandleWithFirstExecutionRunId<typeof agentSession>;

async function start(name: string, script: Script, tuning?: SessionTuning): Promise<Started> {
  const id = `${name}-${randomUUID().slice(0, 8)}`;
  h.script(id, script);
  return h.client.workflow.start<typeof agentSession>('agentSession', { taskQueue: SESSIONS_QUEUE, workflowId: id, args: [h.input(id, tuning)] });
}

/** The model: a tool call first, then the final answer. */
const oneCall = (command: string, final = 'done'): Script => (input) => (input.step === 1 ? shell('call-1', command) : answer(final));

const state = (s: Session): Promise<SessionStateView> => s.query(stateQuery);

async function openGate(s: Session): Promise<GateView> {
  await expect.poll(async () => (await state(s)).pendingApprovals.length, { timeout: 15_000 }).toBe(1);
  const view = await state(s);
  expect(view.status).toBe('waiting_approval');
  return view.pendingApprovals[0] as GateView;
}

function signed(s: Session, vote: Omit<ApprovalVote, 'proof'>, key = VOTE_KEY): ApprovalVote {
  return { ...vote, proof: signVote(key, s.workflowId, vote) };
}

/** Why an Update was refused (the ApplicationFailure's type), or 'accepted'. */
async function refusal(s: Session, vote: ApprovalVote): Promise<string> {
  try {
    await s.executeUpdate(approveUpdate, { args: [vote] });
    return 'accepted';
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) return err.cause.type ?? 'untyped';
    throw err;
  }
}

const finished = (s: Session) => h.callsOf(s.workflowId, 'finishSession').map((c) => ({ status: c.input.status, error: c.input.error }));
const resolvedOutcomes = (s: Session) => h.eventsOf(s.workflowId).filter((e) => e.type === 'approval.resolved').map((e) => e.data.outcome);

describe.concurrent('agentSession with mocked activities', () => {
  it('opens a 2-of-M gate and runs the call only once two distinct approvers voted through the Update', async ({ expect }) => {
    const s = await start('approved', oneCall('rm -rf /workspace/scratch'));
    const gate = await openGate(s);
    expect(gate).toMatchObject({ tool: 'shell', required: 2, requester: 'alice', ruleId: 'rm-needs-two', risk: 'high', approvals: [] });
    const vote = (approver: string): Omit<ApprovalVote, 'proof'> => ({ gateId: gate.id, approver, decision: 'approve', channel: 'api' });

    // Refused before anything counts: the requester, a vote without proof (validator), a forged proof (the workflow's check).
    expect(await refusal(s, signed(s, vote('alice')))).toBe('requester_cannot_approve');
    expect(await refusal(s, vote('mallory'))).toBe('vote_unauthenticated');
    expect(await refusal(s, signed(s, vote('mallory'), 'not-the-key'))).toBe('vote_unauthenticated');

    const first = await s.executeUpdate(approveUpdate, { args: [signed(s, vote('bob'))] });
    expect(first).toMatchObject({ counted: true, gate: { status: 'open', approvals: [{ approver: 'bob', channel: 'api' }] } });
    expect((await s.executeUpdate(approveUpdate, { args: [signed(s, vote('bob'))] })).counted).toBe(false);
    const between = await state(s);
    expect(between.status).toBe('waiting_approval');
    expect(between.pendingApprovals[0]?.approvals.map((a) => a.approver)).toEqual(['bob']);
    expect(h.callsOf(s.workflowId, 'execTool')).toEqual([]);

    const second = await s.executeUpdate(approveUpdate, { args: [signed(s, vote('carol'))] });
    expect(second).toMatchObject({ counted: true, gate: { status: 'approved' } });
    expect(await s.result()).toMatchObject({ status: 'completed', finalAnswer: 'done', error: null, steps: 2, usage: { llmCalls: 2, toolCalls: 1 } });

    const id = s.workflowId;
    // The real proof check ran for every vote past the validator: forged, bob twice, carol.
    expect(h.callsOf(id, 'verifyVote').map((c) => (c.input.vote as ApprovalVote).approver)).toEqual(['mallory', 'bob', 'bob', 'carol']);
    expect(h.eventsOf(id).filter((e) => e.type === 'approval.refused').map((e) => e.data.code)).toEqual(['vote_unauthenticated']);
    const resolved = h.eventsOf(id).find((e) => e.type === 'approval.resolved');
    expect(resolved?.data).toMatchObject({ gateId: gate.id, outcome: 'approved', approvers: ['bob', 'carol'] });
    // The call ran once, on the host queue the claim named, after the gate's resolution was written.
    const exec = h.callsOf(id, 'execTool');
    expect(exec.map((c) => [c.taskQueue, (c.input.call as { args: { command: string } }).args.command])).toEqual([[HOST_QUEUE, 'rm -rf /workspace/scratch']]);
    const order = h.calls.filter((c) => c.sessionId === id);
    const resolvedAt = order.findIndex((c) => c.name === 'recordEvents' && (c.input.events as { type: string }[]).some((e) => e.type === 'approval.resolved'));
    expect(resolvedAt).toBeGreaterThanOrEqual(0);
    expect(resolvedAt).toBeLessThan(order.findIndex((c) => c.name === 'execTool'));
    expect(h.callsOf(id, 'claimSandbox').map((c) => c.taskQueue)).toEqual([SANDBOX_QUEUE]);
    expect(h.callsOf(id, 'releaseSandbox').map((c) => c.taskQueue)).toEqual([HOST_QUEUE]);
    // Slack: posted once, and the message's last state is the approved gate: the last update's, or the post's when
    // the votes all came before the post went out (the sync coalesces changes; then no update is needed).
    expect(h.callsOf(id, 'postGateMessage')).toHaveLength(1);
    const slackCalls = h.callsOf(id).filter((c) => c.name === 'postGateMessage' || c.name === 'updateGateMessage');
    expect((slackCalls.at(-1)?.input.gate as GateView | undefined)?.status).toBe('approved');
    expect(finished(s)).toEqual([{ status: 'completed', error: null }]);
    expect(await state(s)).toMatchObject({ status: 'completed', finalAnswer: 'done', pendingApprovals: [], sandbox: null, run: 1 });
  });

  it('denies the call of a gate nobody decided within its 1 s timeout, and goes on', async ({ expect }) => {
    const s = await start('timeout-deny', oneCall('curl https://example.com', 'gave up on curl'));
    expect(await s.result()).toMatchObject({ status: 'completed', finalAnswer: 'gave up on curl', steps: 2, usage: { llmCalls: 2, toolCalls: 0 } });
    const id = s.workflowId;
    // Read from the events, not a query: the gate is open for one second only.
    const requested = h.eventsOf(id).filter((e) => e.type === 'approval.requested');
    expect(requested.map((e) => e.data)).toMatchObject([{ id: 'gate-3', required: 1, ruleId: 'curl-or-deny', timeoutMs: 1000, onTimeout: 'deny' }]);
    expect(resolvedOutcomes(s)).toEqual(['timed_out']);
    expect(h.callsOf(id, 'recordToolResult').map((c) => c.input.result)).toEqual([
      { ok: false, denied: true, gate: 'gate-3', error: 'the call needed approval and was not approved within 1 s (0 of 1 approvals)' },
    ]);
    expect(h.callsOf(id, 'execTool')).toEqual([]);
    expect(h.callsOf(id, 'claimSandbox')).toEqual([]);
    expect(finished(s)).toEqual([{ status: 'completed', error: null }]);
  });

  it('fails the session when a gate with onTimeout: fail times out', async ({ expect }) => {
    const s = await start('timeout-fail', oneCall('dd if=/dev/zero of=/workspace/big'));
    const err = await s.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'session_failed', message: 'gate gate-3 timed out' });
    expect(resolvedOutcomes(s)).toEqual(['timed_out']);
    expect(finished(s)).toEqual([{ status: 'failed', error: 'gate gate-3 timed out' }]);
    expect(h.callsOf(s.workflowId, 'llmStep')).toHaveLength(1);
    expect(h.callsOf(s.workflowId, 'execTool')).toEqual([]);
  });

  it('cancels a session waiting on a gate: the gate closes as cancelled, nothing runs', async ({ expect }) => {
    const s = await start('cancel-gate', oneCall('rm -rf /workspace'));
    const gate = await openGate(s);
    await s.signal(cancelSignal, { by: 'dave', reason: 'changed my mind' });
    expect(await s.result()).toMatchObject({ status: 'cancelled', error: 'cancelled by dave: changed my mind', finalAnswer: null, steps: 1 });
    const id = s.workflowId;
    expect(h.eventsOf(id).find((e) => e.type === 'approval.resolved')?.data).toMatchObject({ gateId: gate.id, outcome: 'cancelled' });
    expect(finished(s)).toEqual([{ status: 'cancelled', error: 'cancelled by dave: changed my mind' }]);
    expect(h.callsOf(id, 'execTool')).toEqual([]);
    expect(h.callsOf(id, 'recordToolResult')).toEqual([]);
    // No sandbox was claimed, so none is released.
    expect(h.callsOf(id, 'releaseSandbox')).toEqual([]);
    expect(h.callsOf(id, 'llmStep')).toHaveLength(1);
    expect(await state(s)).toMatchObject({ status: 'cancelled', pendingApprovals: [] });
  });

  it('cancels a session while its tool runs: the run is cancelled, the sandbox released', async ({ expect }) => {
    const s = await start('cancel-tool', oneCall(`${BLOCKING_COMMAND} 600`));
    const id = s.workflowId;
    await expect.poll(() => h.callsOf(id, 'execTool').length, { timeout: 15_000 }).toBe(1);
    await s.signal(cancelSignal, { by: 'dave' });
    expect(await s.result()).toMatchObject({ status: 'cancelled', error: 'cancelled by dave', usage: { toolCalls: 0 } });
    await expect.poll(() => h.callsOf(id, 'execTool:cancelled').length, { timeout: 15_000 }).toBe(1);
    expect(h.callsOf(id, 'releaseSandbox').map((c) => c.taskQueue)).toEqual([HOST_QUEUE]);
    expect(finished(s)).toEqual([{ status: 'cancelled', error: 'cancelled by dave' }]);
    expect(h.callsOf(id, 'recordToolResult')).toEqual([]);
    expect(await state(s)).toMatchObject({ status: 'cancelled', sandbox: null });
  });

  it("ends as cancelled on Temporal's own cancel during a tool run, still releasing the sandbox", async ({ expect }) => {
    const s = await start('temporal-cancel', oneCall(`${BLOCKING_COMMAND} 600`));
    const id = s.workflowId;
    await expect.poll(() => h.callsOf(id, 'execTool').length, { timeout: 15_000 }).toBe(1);
    await s.cancel();
    const err = await s.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(finished(s)).toEqual([{ status: 'cancelled', error: 'cancelled by Temporal' }]);
    expect(h.callsOf(id, 'releaseSandbox')).toHaveLength(1);
    await expect.poll(() => h.callsOf(id, 'execTool:cancelled').length, { timeout: 15_000 }).toBe(1);
  });

  it('a step without gates writes its decisions with its first tool activity: no event write of its own', async ({ expect }) => {
    const s = await start('decisions-carried', (input) =>
      input.step === 1
        ? { ...shell('call-a', 'echo a'), toolCalls: [{ id: 'call-bad', name: 'shell', arguments: '{not json' }, { id: 'call-a', name: 'shell', arguments: JSON.stringify({ command: 'echo a' }) }] }
        : answer('done'),
    );
    expect(await s.result()).toMatchObject({ status: 'completed', finalAnswer: 'done', usage: { toolCalls: 1 } });
    const id = s.workflowId;
    const order = h.callsOf(id).map((c) => c.name);
    const first = order.indexOf('llmStep');
    // Model call, the invalid call's refusal, the claim, the run, the next model call: no recordEvents among them.
    expect(order.slice(first, order.lastIndexOf('llmStep') + 1)).toEqual(['llmStep', 'recordToolResult', 'claimSandbox', 'execTool', 'llmStep']);
    // Both decisions ride with the step's first activity (the refusal), under the outbox's next keys; the run carries none.
    const refusal = h.callsOf(id, 'recordToolResult')[0]?.input;
    expect((refusal?.decisions as { type: string; data: Record<string, unknown> }[]).map((e) => [e.type, e.data.toolCallId, e.data.action])).toEqual([
      ['tool.decision', 'call-bad', 'invalid'],
      ['tool.decision', 'call-a', 'allow'],
    ]);
    expect(h.callsOf(id, 'execTool')[0]?.input.decisions).toBeUndefined();
    const keys = h.eventsOf(id).map((e) => Number(e.key.replace('wf:', '')));
    expect([...keys].sort((a, b) => a - b)).toEqual(Array.from({ length: keys.length }, (_, i) => i));
  });

  it('a tool activity that fails for good hands the decisions it carried back to the outbox', async ({ expect }) => {
    const s = await start('decisions-resent', oneCall(`${FAILING_COMMAND} now`));
    const result = await s.result().catch((e: unknown) => e);
    expect(finished(s)).toEqual([{ status: 'failed', error: expect.stringContaining('the host refused the run') }]);
    expect(result).toBeDefined();
    const id = s.workflowId;
    const carried = h.callsOf(id, 'execTool')[0]?.input.decisions as { key: string }[];
    expect(carried).toHaveLength(1);
    const resent = h.callsOf(id, 'recordEvents').flatMap((c) => (c.input.events as { key: string; type: string }[]).filter((e) => e.type === 'tool.decision'));
    expect(resent.map((e) => e.key)).toEqual(carried.map((e) => e.key));
  });

  it('continues as new past its event threshold and carries step, usage, sandbox, events and message ids', async ({ expect }) => {
    const STEPS = 9;
    let firstRun: string | undefined;
    let dupSent = false;
    const s = await start(
      'continue-as-new',
      async (input) => {
        const runId = Context.current().info.workflowExecution?.runId;
        firstRun ??= runId;
        const handle = h.client.workflow.getHandle(input.session.sessionId);
        // A message with a client id in the first run; the same id again (and a new one) in a later run.
        if (input.step === 1) await handle.signal(userMessageSignal, { content: 'first', from: 'alice', id: 'm1' });
        if (runId !== firstRun && !dupSent) {
          dupSent = true;
          await handle.signal(userMessageSignal, { content: 'first again', from: 'alice', id: 'm1' });
          await handle.signal(userMessageSignal, { content: 'second', from: 'alice', id: 'm2' });
        }
        return input.step < STEPS ? shell(`call-${input.step}`, `echo ${input.step}`) : answer('all done');
      },
      // The workflow's own threshold is 10,000 events (or Temporal's suggestion); the input lowers it.
      { continueAsNewAfterEvents: 40 },
    );
    const result = await s.result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'all done', steps: STEPS, usage: { llmCalls: STEPS, toolCalls: STEPS - 1, inputTokens: 10 * STEPS } });
    expect(dupSent).toBe(true);

    const id = s.workflowId;
    const first = await h.client.workflow.getHandle(id, s.firstExecutionRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    const last = await state(h.client.workflow.getHandle<typeof agentSession>(id));
    expect(last.run).toBeGreaterThanOrEqual(2);
    expect(last).toMatchObject({ status: 'completed', step: STEPS, finalAnswer: 'all done' });

    const llm = h.callsOf(id, 'llmStep');
    expect(new Set(llm.map((c) => c.runId)).size).toBe(last.run);
    // Step numbers and message seqs go on across runs, never restart.
    expect(llm.map((c) => c.input.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    const seqs = llm.map((c) => c.input.messageSeq as number);
    expect(seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number))).toBe(true);
    // Started once; one sandbox for the whole session, used by every run, released once.
    expect(h.callsOf(id, 'startSession')).toHaveLength(1);
    expect(h.callsOf(id, 'claimSandbox')).toHaveLength(1);
    const exec = h.callsOf(id, 'execTool');
    expect(new Set(exec.map((c) => (c.input.lease as { containerId: string }).containerId))).toEqual(new Set([`ctr-${id}`]));
    expect(new Set(exec.map((c) => c.runId)).size).toBeGreaterThanOrEqual(2);
    expect(h.callsOf(id, 'releaseSandbox')).toHaveLength(1);
    // Event keys continue from the carried counter: each written once, none reused by a later run.
    const keys = h.eventsOf(id).map((e) => Number(e.key.replace('wf:', '')));
    expect([...keys].sort((a, b) => a - b)).toEqual(Array.from({ length: keys.length }, (_, i) => i));
    // The repeated message id was remembered across the run boundary: 'first again' never reached the transcript.
    const appended = h.callsOf(id, 'appendUserMessages').flatMap((c) => (c.input.messages as { content: string }[]).map((m) => m.content));
    expect(appended).toEqual(['first', 'second']);
  });
});

describe("the trace a client passes (temporal/client.ts's interceptors, in a process without an OpenTelemetry SDK)", () => {
  const spansOf = (workflowId: string) => h.spans.getFinishedSpans().filter((span) => span.attributes.workflowId === workflowId).map((span) => span.name);

  it('a session started and approved through them records no workflow spans, one without a trace header does, and both replay', async ({ expect }) => {
    const client = new Client({ connection: h.env.connection, namespace: h.env.namespace ?? 'default', interceptors: clientInterceptors() });
    const plain = await start('trace-plain', oneCall('echo plain'));
    const id = `trace-unsampled-${randomUUID().slice(0, 8)}`;
    h.script(id, oneCall('rm -rf /tmp/cache'));
    const s = await client.workflow.start<typeof agentSession>('agentSession', { taskQueue: SESSIONS_QUEUE, workflowId: id, args: [h.input(id)] });
    const gate = await openGate(s);
    const vote = (approver: string) => signed(s, { gateId: gate.id, approver, decision: 'approve', channel: 'api' });
    await s.executeUpdate(approveUpdate, { args: [vote('bob')] });
    await s.executeUpdate(approveUpdate, { args: [vote('carol')] });
    expect(await s.result()).toMatchObject({ status: 'completed', steps: 2 });
    expect(await plain.result()).toMatchObject({ status: 'completed', steps: 2 });

    // The plain start's workflow traced itself (its run, its activities), exported through the sink; spans of a task
    // leave after it completes, so wait for its last.
    await expect.poll(() => spansOf(plain.workflowId).filter((n) => n.startsWith('StartActivity:')).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
    expect(spansOf(plain.workflowId)).toContain('RunWorkflow:agentSession');
    // The other got a trace that is not sampled: its run, its activities and both Updates recorded nothing.
    expect(spansOf(id)).toEqual([]);
    const history = await s.fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(Object.keys(started?.header?.fields ?? {})).toContain(TRACE_HEADER);

    const bundle = await loadWorkflowBundle({ cacheDirectory: resolve(REPO_ROOT, 'node_modules/.cache/kortix-workflow-bundle') });
    const outcomes = await replayHistories(
      [
        { name: 'unsampled', workflowId: id, history },
        { name: 'plain', workflowId: plain.workflowId, history: await plain.fetchHistory() },
      ],
      bundle,
    );
    expect(outcomes.map((o) => [o.name, o.ok, o.error])).toEqual([
      ['unsampled', true, undefined],
      ['plain', true, undefined],
    ]);
  });
});

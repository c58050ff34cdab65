/**
 * Parked sandboxes in the workflow (workflows/session-park.ts), every activity mocked
 * (test/workflow/harness.ts): a session that waits on a gate or for a follow-up message longer than
 * `sandboxParkAfterMs` parks its sandbox on its host, the next tool call claims again with the parked
 * workspace to restore, and a host that keeps the sandbox (a process still runs) changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { agentSession } from '../../workflows/agent-session.js';
import { approveUpdate, stateQuery, userMessageSignal, type ApprovalVote, type GateView, type SessionTuning } from '../../workflows/definitions.js';
import { signVote } from '../../activities/vote-proof.js';
import { ALWAYS_PARKED_COMMAND, HOST_QUEUE, Harness, KEEP_PREFIX, PARKED_SHA, SESSIONS_QUEUE, VOTE_KEY, answer, shell, type Script } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => {
  await h?.close();
});

type Session = WorkflowHandle<typeof agentSession>;

function start(name: string, script: Script, tuning: SessionTuning, idleTimeoutMs?: number): Promise<Session> {
  const id = `${name}-${randomUUID().slice(0, 8)}`;
  h.script(id, script);
  return h.client.workflow.start<typeof agentSession>('agentSession', {
    taskQueue: SESSIONS_QUEUE,
    workflowId: id,
    args: [{ ...h.input(id, tuning), ...(idleTimeoutMs ? { idleTimeoutMs } : {}) }],
  });
}

/** A safe call (it claims the sandbox), then one that waits on the 2-approver gate, then the answer. */
const gated: Script = (input) => (input.step === 1 ? shell('call-1', 'echo kept > note.txt') : input.step === 2 ? shell('call-2', 'rm scratch && cat note.txt') : answer('done'));

async function openGate(s: Session): Promise<GateView> {
  await expect.poll(async () => (await s.query(stateQuery)).pendingApprovals.length, { timeout: 15_000 }).toBe(1);
  return (await s.query(stateQuery)).pendingApprovals[0] as GateView;
}

async function approve(s: Session, gate: GateView): Promise<void> {
  for (const approver of ['bob', 'carol']) {
    const vote: Omit<ApprovalVote, 'proof'> = { gateId: gate.id, approver, decision: 'approve', channel: 'api' };
    await s.executeUpdate(approveUpdate, { args: [{ ...vote, proof: signVote(VOTE_KEY, s.workflowId, vote) }] });
  }
}

const names = (s: Session) => h.callsOf(s.workflowId).map((c) => c.name).filter((n) => ['claimSandbox', 'execTool', 'parkSandbox', 'releaseSandbox'].includes(n));
const eventsOf = (s: Session, type: string) => h.eventsOf(s.workflowId).filter((e) => e.type === type);

describe.concurrent('parked sandboxes', () => {
  it('parks the sandbox during a long gate, and the approved call claims again with the workspace to restore', async () => {
    const s = await start('park-gate', gated, { sandboxParkAfterMs: 500 });
    const gate = await openGate(s);
    await expect.poll(() => h.callsOf(s.workflowId, 'parkSandbox').length, { timeout: 10_000 }).toBe(1);
    const [park] = h.callsOf(s.workflowId, 'parkSandbox');
    expect(park).toMatchObject({ taskQueue: HOST_QUEUE, input: { ref: 'workspace:park-1' } });
    // Parked: the session shows no sandbox while it waits.
    await expect.poll(async () => (await s.query(stateQuery)).sandbox, { timeout: 5_000 }).toBeNull();
    await approve(s, gate);
    await s.result();
    expect(names(s)).toEqual(['claimSandbox', 'execTool', 'parkSandbox', 'claimSandbox', 'execTool', 'releaseSandbox']);
    const claims = h.callsOf(s.workflowId, 'claimSandbox');
    expect(claims[0]?.input.resume).toBeUndefined();
    expect(claims[1]?.input.resume).toEqual({ sha256: PARKED_SHA, bytes: 10_240 });
    // The second run records that its sandbox was restored from the parked workspace.
    expect(h.callsOf(s.workflowId, 'execTool')[1]?.input.claimed).toMatchObject({ resumed: PARKED_SHA });
    expect(eventsOf(s, 'sandbox.parked').map((e) => e.data)).toEqual([
      { containerId: `ctr-${s.workflowId}`, hostId: 'host-a', ref: 'workspace:park-1', workspace: { sha256: PARKED_SHA, bytes: 10_240 } },
    ]);
  });

  it('keeps the sandbox when the host refuses to park it, and says why', async () => {
    const s = await start(`${KEEP_PREFIX}gate`, gated, { sandboxParkAfterMs: 500 });
    const gate = await openGate(s);
    await expect.poll(() => eventsOf(s, 'sandbox.park_refused').length, { timeout: 10_000 }).toBe(1);
    expect(eventsOf(s, 'sandbox.park_refused')[0]?.data.reason).toContain('node server.js');
    await approve(s, gate);
    await s.result();
    expect(names(s)).toEqual(['claimSandbox', 'execTool', 'parkSandbox', 'execTool', 'releaseSandbox']);
  });

  it('does not park when the gate is decided first, nor without the setting', async () => {
    const quick = await start('park-quick', gated, { sandboxParkAfterMs: 60_000 });
    await approve(quick, await openGate(quick));
    const off = await start('park-off', gated, {});
    const gate = await openGate(off);
    await new Promise((r) => setTimeout(r, 1_000));
    await approve(off, gate);
    await Promise.all([quick.result(), off.result()]);
    for (const s of [quick, off]) expect(names(s)).toEqual(['claimSandbox', 'execTool', 'execTool', 'releaseSandbox']);
  });

  it('moves a call whose sandbox its host parked for a waiting claim, restoring the workspace, at most 10 times', async () => {
    const s = await start('park-moved', (input) => (input.step === 1 ? shell('call-1', `${ALWAYS_PARKED_COMMAND} along`) : answer('done')), {});
    await s.result().catch(() => undefined);
    // The first claim, then one claim per move, each with the parked workspace; the 11th parked answer fails the session.
    const claims = h.callsOf(s.workflowId, 'claimSandbox');
    expect(claims).toHaveLength(11);
    expect(claims.slice(1).every((c) => (c.input.resume as { sha256?: string } | undefined)?.sha256 === PARKED_SHA)).toBe(true);
    expect(h.callsOf(s.workflowId, 'execTool')).toHaveLength(11);
    expect(eventsOf(s, 'sandbox.parked')).toHaveLength(10);
    expect(eventsOf(s, 'sandbox.parked')[0]?.data).toMatchObject({ by: 'pool', workspace: { sha256: PARKED_SHA } });
    expect(h.callsOf(s.workflowId, 'finishSession').map((c) => c.input.status)).toEqual(['failed']);
  });

  it('parks while it waits for a follow-up message; the next call restores, and a session that ends parked releases nothing', async () => {
    const script: Script = (input) => (input.step === 1 ? shell('call-1', 'echo kept > note.txt') : input.step === 2 ? answer('first') : input.step === 3 ? shell('call-3', 'cat note.txt') : answer('second'));
    const s = await start('park-idle', script, { sandboxParkAfterMs: 500 }, 3_000);
    await expect.poll(() => h.callsOf(s.workflowId, 'parkSandbox').length, { timeout: 10_000 }).toBe(1);
    await s.signal(userMessageSignal, { content: 'again', from: 'alice' });
    // After the second answer it parks again, then the idle wait ends: nothing is left to release.
    await s.result();
    expect(names(s)).toEqual(['claimSandbox', 'execTool', 'parkSandbox', 'claimSandbox', 'execTool', 'parkSandbox']);
    expect(h.callsOf(s.workflowId, 'parkSandbox').map((c) => c.input.ref)).toEqual(['workspace:park-1', 'workspace:park-2']);
  });
});

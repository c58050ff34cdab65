/**
 * Votes through the API's Update path: they replay, and only they count.
 *
 * Sessions approved through the API's Update path replay. The README
 * walk-through (alice refused, bob, bob again, carol) many times over, with
 * the votes' timing drawn at random so that they race the outbox write of the
 * previous vote, the gate's timeout timer and queries; then every exported
 * history replays against the current code with the production interceptors.
 * Before the fix in workflows/tracing-interceptors.ts the closing vote made
 * most of these histories fail with `Update machine does not handle this
 * event: TimerCanceled`.
 *
 * A vote counts only with the API's signature (activities/vote-proof.ts):
 * signals and Updates sent to Temporal directly, with invented approvers or
 * roles, a forged proof, or a proof made for another session, are refused.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { signVote } from '../../activities/vote-proof.js';
import { REPO_ROOT, voteSigningKey } from '../../config/index.js';
import { replayHistories, type HistoryToReplay } from '../../temporal/replay.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { getSession, startSession, vote, waitForGate, waitForStatus } from '../support/sessions.js';
import { approvalSignal, approveUpdate, type ApprovalVote } from '../../workflows/definitions.js';
import { startStack, waitFor, type Stack, type Who } from '../support/stack.js';

const { EventType } = proto.temporal.api.enums.v1;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(inject('services'));
});
afterAll(async () => {
  await stack?.close();
});

/** A seeded generator, so that a failing run can be told apart and repeated (the seed is in the test name). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One walk-through; `rnd` decides the pauses, whether bob and carol vote at once, and the racing queries. */
async function walkThrough(rnd: () => number, timeoutSeconds: number | undefined): Promise<{ id: string; statuses: number[] }> {
  const s = await startSession(stack, {
    message: 'Please clean up the build cache',
    ...(timeoutSeconds ? { limits: { approvalTimeoutSeconds: timeoutSeconds } } : {}),
  });
  const gate = await waitForGate(stack, s.id, 60_000);
  const pause = () => sleep(Math.floor(rnd() * 40));
  const statuses: number[] = [];
  const cast = async (who: Who) => {
    await pause();
    statuses.push((await vote(stack, s.id, gate.id, who)).status);
  };
  // Queries race the votes: a query is answered by the same workflow task processing.
  const queries = Promise.all(Array.from({ length: 3 }, async () => {
    await pause();
    await getSession(stack, s.id);
  }));
  await cast('alice');
  if (rnd() < 0.5) {
    await cast('bob');
    await cast('bob');
    await cast('carol');
  } else {
    // bob's second vote and carol's closing vote in flight together.
    await cast('bob');
    await Promise.all([cast('bob'), cast('carol')]);
  }
  await queries;
  return { id: s.id, statuses };
}

describe('Update-approved sessions replay', () => {
  const replayable: string[] = [];
  const SEED = Number(process.env.KORTIX_STRESS_SEED ?? 20261201);
  const ROUNDS = 10;

  it(`${ROUNDS} walk-throughs with random vote timing all replay (seed ${SEED})`, async () => {
    const rnd = random(SEED);
    const ids: string[] = [];
    // Two at a time: enough overlap to vary the task timing on two cores.
    for (let i = 0; i < ROUNDS; i += 2) {
      // Every third pair has a short gate timeout, so that the closing vote can race the timer.
      const timeout = i % 6 === 4 ? 3 : undefined;
      const runs = await Promise.all([walkThrough(rnd, timeout), walkThrough(rnd, timeout)]);
      for (const run of runs) {
        // alice (the requester) refused; bob, bob again and carol accepted, or carol's vote late on a closed gate.
        expect(run.statuses[0]).toBe(403);
        expect(run.statuses.slice(1).every((st) => st === 200 || st === 409)).toBe(true);
        ids.push(run.id);
      }
    }
    const ended = await Promise.all(ids.map((id) => waitForStatus(stack, id, undefined, 120_000)));
    // Most gates close by carol's vote and the command runs; a timed-out one ends the session all the same.
    expect(ended.filter((s) => s.status === 'completed').length).toBeGreaterThanOrEqual(ROUNDS / 2);

    const histories: HistoryToReplay[] = await Promise.all(
      ids.map(async (id) => ({ name: id, workflowId: id, history: await stack.temporal.workflow.getHandle(id).fetchHistory() })),
    );
    // Each history holds the API's Update (accepted and completed), not a signal.
    for (const h of histories) {
      const types = (h.history.events ?? []).map((e) => e.eventType);
      expect(types.filter((t) => t === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED).length).toBeGreaterThanOrEqual(2);
      expect(types).toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
      expect(types).not.toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    }
    const outcomes = await replayHistories(histories, await loadWorkflowBundle());
    // A history that does not replay is kept for `npm run replay -- <file>`.
    for (const o of outcomes.filter((x) => !x.ok)) {
      const h = histories.find((x) => x.name === o.name);
      if (h) writeFileSync(join(inject('services').tmpDir, `${o.name}.json`), historyToJSON(h.history));
    }
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(outcomes).toHaveLength(ROUNDS);
    replayable.push(...ids.slice(0, 2));
  });

  it('`npm run replay -- <session id>` fetches the runs from the server and replays them', async () => {
    expect(replayable.length).toBe(2);
    const run = promisify(execFile);
    const { stdout } = await run('npx', ['tsx', 'temporal/replay-main.ts', ...replayable], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...stack.env },
      timeout: 120_000,
    });
    for (const id of replayable) expect(stdout).toMatch(new RegExp(`^deterministic\\s+${id} run 1 `, 'm'));
    expect(stdout).toContain('2 of 2 histories replay against the current code');
  });
});

describe('votes that the API did not authenticate never count', () => {
  /** A session waiting on its gate (2 approvals needed), and a handle on its workflow. */
  async function waitingSession() {
    const s = await startSession(stack, { message: 'Please clean up the build cache' });
    const gate = await waitForGate(stack, s.id, 60_000);
    return { id: s.id, gate, handle: stack.temporal.workflow.getHandle(s.id) };
  }

  async function refusedEvents(id: string) {
    const rows = await stack.db.selectFrom('session_events').select(['type', 'data']).where('session_id', '=', id).where('type', '=', 'approval.refused').execute();
    return rows.map((r) => (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Record<string, unknown>);
  }

  it('an approval signal naming two invented approvers is refused and recorded', async () => {
    const { id, gate, handle } = await waitingSession();
    for (const approver of ['eve', 'eve2']) {
      await handle.signal(approvalSignal, { gateId: gate.id, approver, roles: ['admin', 'security'], decision: 'approve', channel: 'slack' });
    }
    await waitFor(async () => (await refusedEvents(id)).length === 2, 20_000, 'two refused events');
    const s = await getSession(stack, id);
    expect(s.status).toBe('waiting_approval');
    expect(s.pendingApprovals[0]?.approvals).toEqual([]);
    const audit = await stack.db.selectFrom('approvals').select(['approver', 'outcome']).where('session_id', '=', id).execute();
    expect(audit).toEqual(expect.arrayContaining([{ approver: 'eve', outcome: 'refused:vote_unauthenticated' }]));
    await stack.api('POST', `/v1/sessions/${id}/cancel`, 'alice', {});
  });

  it('an Update without a proof, with a forged proof, or with a proof made for another session is refused', async () => {
    const a = await waitingSession();
    const b = await waitingSession();
    const unsigned: ApprovalVote = { gateId: a.gate.id, approver: 'mallet', roles: ['admin'], decision: 'approve', channel: 'api' };
    const refusedType = async (vote: ApprovalVote, handle = a.handle) => {
      try {
        await handle.executeUpdate(approveUpdate, { args: [vote] });
      } catch (err) {
        expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
        return ((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type;
      }
      throw new Error('the vote was accepted');
    };
    // No proof: turned away by the validator (nothing in the history).
    expect(await refusedType(unsigned)).toBe('vote_unauthenticated');
    // A proof made with another key.
    expect(await refusedType({ ...unsigned, proof: signVote('not-the-key-of-this-deployment', a.id, unsigned) })).toBe('vote_unauthenticated');
    // A real proof for bob's vote, with the roles changed after signing.
    const key = voteSigningKey(stack.config);
    const bob: ApprovalVote = { gateId: a.gate.id, approver: 'bob', roles: ['admin'], decision: 'approve', channel: 'api' };
    expect(await refusedType({ ...bob, roles: ['admin', 'security'], proof: signVote(key, a.id, bob) })).toBe('vote_unauthenticated');
    // A real proof for session b's gate of the same id, replayed on session a.
    expect(b.gate.id).toBe(a.gate.id);
    expect(await refusedType({ ...bob, proof: signVote(key, b.id, bob) })).toBe('vote_unauthenticated');

    const s = await getSession(stack, a.id);
    expect(s.pendingApprovals[0]?.approvals).toEqual([]);
    // The three that reached the handler are on record; the one without any proof never entered the history.
    await waitFor(async () => (await refusedEvents(a.id)).length === 3, 20_000, 'three refused events');
    expect((await refusedEvents(a.id)).map((e) => e.approver).sort()).toEqual(['bob', 'bob', 'mallet']);
    // The same vote, signed for a, counts: the check refuses forgeries, not votes.
    const ok = await a.handle.executeUpdate(approveUpdate, { args: [{ ...bob, proof: signVote(key, a.id, bob) }] });
    expect(ok.counted).toBe(true);
    for (const id of [a.id, b.id]) await stack.api('POST', `/v1/sessions/${id}/cancel`, 'alice', {});
  });
});

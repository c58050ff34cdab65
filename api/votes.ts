/**
 * Sending a vote to a session's gate, from the API or from Slack: an Update
 * whose validator refuses votes that cannot count, so the caller learns at
 * once why (the workflow checks again when it applies the vote). Refused
 * votes are audited here; the workflow audits the ones it takes. Each vote
 * carries the API's signature (activities/vote-proof.ts).
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { signVote } from '../activities/vote-proof.js';
import { getGateRow, recordRefusedVote } from '../db/approvals.js';
import type { Db } from '../db/client.js';
import { approveUpdate, type ApprovalResult, type ApprovalVote } from '../workflows/definitions.js';
import { ApiError } from './errors.js';
import type { EventNotifier } from './event-notifier.js';

const STATUS_BY_CODE: Record<string, 400 | 403 | 404 | 409> = {
  gate_not_found: 404,
  gate_closed: 409,
  requester_cannot_approve: 403,
  approver_excluded: 403,
  role_required: 403,
  approver_required: 400,
  session_closed: 409,
  vote_unauthenticated: 403,
};

export async function submitVote(
  deps: { db: Db; temporal: Client; voteKey: string },
  target: { tenantId: string; sessionId: string },
  unsigned: Omit<ApprovalVote, 'proof'>,
  timeoutMs = 20_000,
): Promise<ApprovalResult> {
  // Signed only here, after the caller was authenticated: the workflow counts no vote without it.
  const vote: ApprovalVote = { ...unsigned, proof: signVote(deps.voteKey, target.sessionId, unsigned) };
  const refuse = async (code: string, message: string): Promise<never> => {
    await recordRefusedVote(deps.db, { ...target, ...vote, roles: vote.roles ?? [], code });
    throw new ApiError(STATUS_BY_CODE[code] ?? 409, code, message);
  };
  try {
    return await deps.temporal.withAbortSignal(AbortSignal.timeout(timeoutMs), () =>
      deps.temporal.workflow.getHandle(target.sessionId).executeUpdate(approveUpdate, { args: [vote] }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      return refuse(err.cause.type ?? 'approval_refused', err.cause.message);
    }
    if (err instanceof WorkflowNotFoundError) return refuse('session_closed', 'the session has ended; its gates are closed');
    throw err;
  }
}

/**
 * Waits until the gates table shows what a vote did (the workflow writes it with the vote's event, through its
 * outbox, after the Update has answered), so that a read after the vote's answer sees it: GET /v1/sessions/:id
 * answers from Postgres. At most `timeoutMs`: the vote has counted either way, and a slow write only delays
 * what the next read shows. The subscription is taken before the vote is sent, or its notification could pass
 * unseen.
 */
export async function voteRecorded(
  deps: { db: Db; notifier: EventNotifier },
  target: { tenantId: string; sessionId: string },
  vote: () => Promise<ApprovalResult>,
  timeoutMs = 5_000,
): Promise<ApprovalResult> {
  const subscription = deps.notifier.subscribe(target.sessionId);
  try {
    const result = await vote();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await getGateRow(deps.db, target.tenantId, target.sessionId, result.gate.id);
      const shown = row !== undefined && row.approvals.length >= result.gate.approvals.length && (result.gate.status === 'open' || row.status === result.gate.status);
      const left = deadline - Date.now();
      if (shown || left <= 0) return result;
      // A notification per event of the session; without LISTEN (reconnecting), a short poll.
      await subscription.wait(Math.min(left, deps.notifier.connected ? 1_000 : 100));
    }
  } finally {
    subscription.close();
  }
}

/**
 * Proof that the API authenticated a vote. Whoever can reach Temporal can send
 * an Update with any approver and roles in it; only the API (after checking
 * the caller's key or Slack's signature) and the workers hold
 * VOTE_SIGNING_KEY. The API signs each vote it sends; the workflow has the
 * signature checked by an activity before the vote counts.
 *
 * The proof binds the session, so a vote signed for `gate-3` of one session
 * cannot be replayed on `gate-3` of another; replayed on its own gate it is a
 * duplicate, which never counts twice.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ApprovalVote } from '../domain/gate.js';

const VERSION = 'v1';

/** What is signed: everything that decides whether and how a vote counts. */
function claim(sessionId: string, vote: ApprovalVote): string {
  const roles = [...(vote.roles ?? [])].sort();
  return JSON.stringify(['kortix-vote', VERSION, sessionId, vote.gateId, vote.approver, roles, vote.decision, vote.channel, vote.comment ?? null]);
}

function mac(key: string, sessionId: string, vote: ApprovalVote): Buffer {
  return createHmac('sha256', key).update(claim(sessionId, vote)).digest();
}

/** The proof the API attaches to a vote (`v1.<hex>`). */
export function signVote(key: string, sessionId: string, vote: ApprovalVote): string {
  return `${VERSION}.${mac(key, sessionId, vote).toString('hex')}`;
}

/** Whether `vote.proof` was made with `key` for exactly this session and vote. Constant time. */
export function voteProofValid(key: string, sessionId: string, vote: ApprovalVote): boolean {
  const proof = vote.proof ?? '';
  const m = /^v1\.([0-9a-f]{64})$/.exec(proof);
  if (!m?.[1]) return false;
  return timingSafeEqual(Buffer.from(m[1], 'hex'), mac(key, sessionId, vote));
}

/** The activity the session workflow runs on each vote (on the sessions queue). */
export function createVoteActivities(deps: { readonly key: string }) {
  return {
    async verifyVote(input: { sessionId: string; vote: ApprovalVote }): Promise<boolean> {
      return voteProofValid(deps.key, input.sessionId, input.vote);
    },
  };
}

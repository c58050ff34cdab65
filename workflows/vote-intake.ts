/**
 * How votes reach a session's gates. Only through the API's Update, and only
 * with the API's signature: whoever can reach Temporal can send an Update or
 * a signal naming any approver and any roles, so a vote counts only after an
 * activity (the worker holds VOTE_SIGNING_KEY, as the API does) has checked
 * its proof (activities/vote-proof.ts). The old `approval` signal carried no
 * proof and is retired.
 *
 * A regular activity, not a local one: its completion is an event, so a
 * replay resumes the Update handlers in the same workflow task and order as
 * they ran live. With local activities, two votes checked in one task were
 * resumed together on replay and their Update completions moved around the
 * gate's TimerCanceled (a nondeterminism the stress test in
 * test/integration/api-votes.test.ts found).
 *
 * Both changes are versioned: sessions recorded before them (test/histories/)
 * take votes as they did, with the same commands, so they still replay.
 */
import { ApplicationFailure, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { VoteActivities } from '../activities/index.js';
import { approvalSignal, approveUpdate, type ApprovalResult, type ApprovalVote } from './definitions.js';
import type { Gate } from '../domain/gate.js';
import { voteProblem } from './gates.js';

/** Change ids (workflow versioning). */
export const VOTE_PROOF_PATCH = 'vote-proof';
export const APPROVAL_SIGNAL_RETIRED_PATCH = 'approval-signal-retired';

const UNAUTHENTICATED = 'vote_unauthenticated';

export interface VoteIntake {
  readonly sessionId: string;
  readonly gates: ReadonlyMap<string, Gate>;
  /** Applies a vote to its gate (undefined: no such gate). */
  take(vote: ApprovalVote): ApprovalResult | undefined;
  /** Records a vote that did not count because nothing proved who cast it. */
  refused(vote: ApprovalVote, code: string): void;
}

function refusal(code: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}

function problemOf(intake: VoteIntake, vote: ApprovalVote): ApplicationFailure | undefined {
  const problem = voteProblem(intake.gates.get(vote.gateId), vote, vote.gateId);
  return problem ? refusal(problem.code, problem.message) : undefined;
}

function takeOrThrow(intake: VoteIntake, vote: ApprovalVote): ApprovalResult {
  const result = intake.take(vote);
  if (!result) throw refusal('gate_not_found', `no approval gate ${vote.gateId}`);
  return result;
}

export function installVoteHandlers(intake: VoteIntake): void {
  const verifier = proxyActivities<VoteActivities>({
    startToCloseTimeout: '10s',
    retry: { initialInterval: '200ms', maximumAttempts: 5 },
  });

  async function takeVerified(vote: ApprovalVote): Promise<ApprovalResult> {
    if (!(await verifier.verifyVote({ sessionId: intake.sessionId, vote }))) {
      intake.refused(vote, UNAUTHENTICATED);
      throw refusal(UNAUTHENTICATED, 'the vote carries no valid proof that the API authenticated its approver');
    }
    // The gate may have closed, or this approver voted, while the proof was checked.
    const problem = problemOf(intake, vote);
    if (problem) throw problem;
    return takeOrThrow(intake, vote);
  }

  setHandler(approvalSignal, (vote) => {
    if (patched(APPROVAL_SIGNAL_RETIRED_PATCH)) {
      intake.refused(vote, UNAUTHENTICATED);
      return;
    }
    intake.take(vote);
  });
  setHandler(
    approveUpdate,
    // Synchronous for sessions from before the proof, exactly as they ran.
    (vote) => (patched(VOTE_PROOF_PATCH) ? takeVerified(vote) : takeOrThrow(intake, vote)),
    {
      validator: (vote) => {
        // Not in the history: a vote without any proof is turned away before it is accepted.
        if (!vote.proof) throw refusal(UNAUTHENTICATED, 'votes are accepted from the Kortix API only (this one carries no proof)');
        const problem = problemOf(intake, vote);
        if (problem) throw problem;
      },
    },
  );
}

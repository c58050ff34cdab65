/**
 * How a session ends: what its end is (an answer or a limit from the loop,
 * or the cancel, the failed event write or the error that stopped it), and
 * the cleanup that runs in every case: open gates cancelled, the sandbox
 * released, the last events written and the session's row finished.
 */
import { ApplicationFailure, allHandlersFinished, condition, isCancellation, patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { SessionStatus } from '../domain/session.js';
import { STATUS_KEY } from './definitions.js';
import { RELEASE_OPTIONS, failureMessage } from './session-activities.js';
import { SLACK_SETTLED_BEFORE_END_PATCH, SLACK_SETTLE_WAIT } from './session-patches.js';
import type { SessionState } from './session-state.js';

export interface Ending {
  readonly status: SessionStatus;
  readonly finalAnswer?: string | null;
  readonly error?: string | null;
}

/** The end of a session whose loop threw (not a continue-as-new), and what the workflow then fails with, if anything. */
export function endingOf(s: SessionState, err: unknown): { ending: Ending; rethrow?: unknown } {
  const failedWrite = s.writeFailure;
  if (isCancellation(err) && failedWrite !== null && !s.cancelRequest) {
    return {
      ending: { status: 'failed', finalAnswer: s.lastAnswer, error: failedWrite },
      rethrow: ApplicationFailure.create({ type: 'session_failed', message: failedWrite, nonRetryable: true }),
    };
  }
  if (isCancellation(err)) {
    const request = s.cancelRequest;
    const by = request ? `${request.by}${request.reason ? `: ${request.reason}` : ''}` : 'Temporal';
    // Cancelled by the signal, the workflow completes; cancelled by Temporal, it reports the cancel.
    return { ending: { status: 'cancelled', finalAnswer: s.lastAnswer, error: `cancelled by ${by}` }, ...(request ? {} : { rethrow: err }) };
  }
  const message = failureMessage(err);
  return {
    ending: { status: 'failed', finalAnswer: s.lastAnswer, error: message },
    rethrow: ApplicationFailure.create({ type: 'session_failed', message, nonRetryable: true, cause: err as Error }),
  };
}

/** The cleanup; the caller runs it non-cancellable, so that it runs even when the session was cancelled. */
export async function finishSession(s: SessionState, ending: Ending): Promise<void> {
  for (const gate of s.gates.values()) {
    if (gate.status === 'open') {
      s.closeGate(gate, 'cancelled');
    }
  }
  if (s.lease) {
    const held = s.lease;
    try {
      await s.activities.onHost(held, RELEASE_OPTIONS).releaseSandbox({ session: s.session });
      s.outbox.push('sandbox.released', { containerId: held.containerId, hostId: held.hostId });
    } catch (err) {
      s.outbox.push('sandbox.released', { containerId: held.containerId, hostId: held.hostId, error: (err as Error).message });
    }
    s.dropSandbox();
  }
  upsertSearchAttributes([{ key: STATUS_KEY, value: ending.status }]);
  if (!s.slackSync.idle && patched(SLACK_SETTLED_BEFORE_END_PATCH)) await condition(() => s.slackSync.idle, SLACK_SETTLE_WAIT);
  // Bounded: the writer's retries have a budget and its failures are caught (writeFailure).
  await s.outbox.flush();
  const lostEvents = s.writeFailure;
  const end = {
    session: s.session,
    status: ending.status,
    finalAnswer: ending.finalAnswer ?? null,
    error: ending.error ?? (lostEvents ? `some events could not be written: ${lostEvents}` : null),
    usage: s.usage,
    step: s.step,
  };
  try {
    await s.activities.store.finishSession(end);
  } catch (err) {
    // The row still ends (without its session.ended event): no session stays `running` after its workflow.
    await s.activities.store.finishSessionRow({ ...end, writeError: failureMessage(err) });
  }
  // Only now does the query report the end: the row already holds the answer.
  s.ended(ending.status);
  await condition(allHandlersFinished);
}

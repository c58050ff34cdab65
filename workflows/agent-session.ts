/**
 * `agentSession`: one agent session, one workflow. The loop asks the model,
 * judges each tool call against the pinned policy, waits on approval gates,
 * runs allowed tools in the session's sandbox and feeds results back, until a
 * final answer, a limit, a cancel or a fatal error. The sandbox is released in
 * every case. Deterministic: side effects happen only in activities.
 *
 * The session's state and handlers live in session-state.ts, its steps in
 * session-loop.ts (model steps), session-tools.ts (tool calls, gates, the
 * sandbox) and session-end.ts (the end and its cleanup). Recorded histories
 * (test/histories/) pin the commands and their order: a change that adds,
 * removes or reorders one (an extra await included) goes behind `patched()`.
 */
import { CancellationScope, ContinueAsNew } from '@temporalio/workflow';
import type { AgentSessionInput, SessionResult } from './definitions.js';
import { endingOf, finishSession, type Ending } from './session-end.js';
import { SessionLoop } from './session-loop.js';
import { SessionState } from './session-state.js';

export async function agentSession(input: AgentSessionInput): Promise<SessionResult> {
  const state = new SessionState(input);
  state.registerHandlers();
  let ending: Ending;
  let rethrow: unknown;
  try {
    ending = await new SessionLoop(state).run();
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    ({ ending, rethrow } = endingOf(state, err));
  }
  // Cleanup runs even when the session was cancelled.
  await CancellationScope.nonCancellable(() => finishSession(state, ending));
  if (rethrow) throw rethrow;
  return { status: ending.status, finalAnswer: ending.finalAnswer ?? null, error: ending.error ?? null, usage: state.usage, steps: state.step };
}

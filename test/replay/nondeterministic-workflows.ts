/**
 * A deliberately nondeterministic edit of agentSession: a timer before the
 * first activity, as someone might add "a short pause" without versioning.
 * The replay test shows CI catches it.
 */
import { sleep } from '@temporalio/workflow';
import { agentSession as current } from '../../workflows/agent-session.js';
import type { AgentSessionInput } from '../../workflows/definitions.js';

export async function agentSession(input: AgentSessionInput) {
  await sleep('1 second');
  return current(input);
}

/**
 * A deliberately nondeterministic edit of every recorded workflow: a timer
 * before the first activity, as someone might add "a short pause" without
 * versioning. The replay test shows CI catches it.
 */
import { sleep } from '@temporalio/workflow';
import { agentPromotion as currentPromotion } from '../../workflows/agent-promotion.js';
import { agentSession as currentSession } from '../../workflows/agent-session.js';
import type { AgentSessionInput } from '../../workflows/definitions.js';

export async function agentSession(input: AgentSessionInput) {
  await sleep('1 second');
  return currentSession(input);
}

export async function agentPromotion(input: Parameters<typeof currentPromotion>[0]) {
  await sleep('1 second');
  return currentPromotion(input);
}

/**
 * Whether a session still holds a sandbox container, asked of Temporal (the
 * pool's `isOrphan`): a container is an orphan when its session's workflow is
 * no longer running, or when the session's lease names another host (it lost
 * this one and claimed elsewhere). When Temporal cannot tell, it is not.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SessionStateView } from '../domain/session.js';
import { SESSION_HANDLERS } from '../domain/temporal-names.js';

const QUERY_TIMEOUT_MS = 5_000;

export function temporalOrphanCheck(client: Pick<Client, 'workflow'>, hostId: string): (sessionId: string) => Promise<boolean> {
  return async (sessionId) => {
    const handle = client.workflow.getHandle(sessionId);
    try {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') return true;
    } catch (err) {
      return err instanceof WorkflowNotFoundError;
    }
    // Not the lease's container id: a session that just re-claimed here may not have recorded its new lease yet.
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), QUERY_TIMEOUT_MS).unref());
    const state = await Promise.race([handle.query<SessionStateView>(SESSION_HANDLERS.state).catch(() => undefined), timeout]);
    return state?.sandbox != null && state.sandbox.hostId !== hostId;
  };
}

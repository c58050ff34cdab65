/**
 * `fromSession` of POST /v1/sessions: the new session starts from the workspace
 * a previous session of the same tenant left (its tarball artifact, pinned
 * here; the sandbox host unpacks it at claim, activities/artifact-tools.ts).
 */
import { latestSessionArtifact } from '../db/artifacts.js';
import type { Db } from '../db/client.js';
import type { WorkspaceSource } from '../db/workspace-sources.js';
import { ApiError } from './errors.js';

/** The workspace to start from, or a 400 naming body.fromSession (another tenant's session reads as absent). */
export async function resolveWorkspaceSource(db: Db, tenantId: string, fromSession: string | undefined): Promise<WorkspaceSource | undefined> {
  if (fromSession === undefined) return undefined;
  const tarball = await latestSessionArtifact(db, tenantId, fromSession, 'workspace');
  if (!tarball) {
    const message = `no session ${fromSession} of this tenant with a stored workspace (one is stored when a session ends or parks its sandbox)`;
    throw new ApiError(400, 'unknown_from_session', message, [{ path: 'body.fromSession', message }]);
  }
  return { fromSessionId: fromSession, sha256: tarball.sha256 };
}

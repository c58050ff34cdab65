/** Which workspace tarball a session starts from (POST /v1/sessions fromSession); the tenant in every query. */
import type { Db } from './client.js';

export interface WorkspaceSource {
  readonly fromSessionId: string;
  readonly sha256: string;
}

/** Pins the tarball at session creation (in the transaction that writes the session row). */
export async function setWorkspaceSource(db: Db, tenantId: string, sessionId: string, source: WorkspaceSource): Promise<void> {
  await db
    .insertInto('session_workspace_sources')
    .values({ tenant_id: tenantId, session_id: sessionId, from_session_id: source.fromSessionId, sha256: source.sha256 })
    .execute();
}

export async function workspaceSourceOf(db: Db, tenantId: string, sessionId: string): Promise<WorkspaceSource | undefined> {
  const row = await db
    .selectFrom('session_workspace_sources')
    .select(['from_session_id', 'sha256'])
    .where('tenant_id', '=', tenantId)
    .where('session_id', '=', sessionId)
    .executeTakeFirst();
  return row ? { fromSessionId: row.from_session_id, sha256: row.sha256 } : undefined;
}

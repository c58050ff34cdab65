/**
 * Hosts granted to a sandbox at the egress proxy after approval (0007_egress_grants).
 * Written by the grant on the sandbox's host, read by that host's proxy, removed at release.
 */
import type { EgressGrant } from '../sandbox/egress.js';
import type { Db } from './client.js';

/** The stored port of a grant without one (80 and 443). */
const DEFAULT_PORTS = 0;

export interface EgressGrantRow {
  readonly tenantId: string;
  readonly sessionId: string;
  readonly containerId: string;
  readonly host: string;
  readonly port?: number | undefined;
  /** Who decided: the approvers of the gate, or the policy that allows the host. */
  readonly grantedBy: string;
  readonly gate: string | null;
}

/** Stores a grant; the same host granted again to the same container is kept as first granted. */
export async function insertEgressGrant(db: Db, grant: EgressGrantRow): Promise<void> {
  await db
    .insertInto('egress_grants')
    .values({
      container_id: grant.containerId,
      host: grant.host,
      port: grant.port ?? DEFAULT_PORTS,
      tenant_id: grant.tenantId,
      session_id: grant.sessionId,
      granted_by: grant.grantedBy,
      gate: grant.gate,
    })
    .onConflict((oc) => oc.columns(['container_id', 'host', 'port']).doNothing())
    .execute();
}

/** The grants of these containers, as the proxy applies them. */
export async function egressGrantsFor(db: Db, containerIds: readonly string[]): Promise<EgressGrant[]> {
  if (containerIds.length === 0) return [];
  const rows = await db.selectFrom('egress_grants').select(['container_id', 'host', 'port']).where('container_id', 'in', [...containerIds]).execute();
  return rows.map((r) => ({ containerId: r.container_id, host: r.host, ...(r.port === DEFAULT_PORTS ? {} : { port: r.port }) }));
}

/** Grants die with the sandbox: removes the session's at release. */
export async function deleteEgressGrants(db: Db, session: { tenantId: string; sessionId: string }): Promise<void> {
  await db.deleteFrom('egress_grants').where('tenant_id', '=', session.tenantId).where('session_id', '=', session.sessionId).execute();
}

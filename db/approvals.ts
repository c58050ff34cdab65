/** Gates and approval decisions as the API reads and audits them (always scoped to a tenant). */
import { sql } from 'kysely';
import type { Db } from './client.js';

/** Gates of a tenant, newest first; `pending` = still open. */
export async function listGates(db: Db, tenantId: string, options: { status: 'pending' | 'closed' | 'all'; limit: number; sessionId?: string | undefined }) {
  let q = db.selectFrom('gates').selectAll().where('tenant_id', '=', tenantId);
  if (options.status === 'pending') q = q.where('status', '=', 'open').where('expires_at', '>', new Date());
  if (options.status === 'closed') q = q.where('status', '!=', 'open');
  if (options.sessionId) q = q.where('session_id', '=', options.sessionId);
  return q.orderBy('opened_at', 'desc').limit(options.limit).execute();
}

/** Audits a vote the API refused before it reached the workflow (who tried what, and why not). */
export async function recordRefusedVote(
  db: Db,
  vote: { tenantId: string; sessionId: string; gateId: string; approver: string; roles: readonly string[]; channel: string; decision: string; code: string; comment?: string | undefined },
): Promise<void> {
  const gate = await db
    .selectFrom('gates')
    .select('tool_call_hash')
    .where('session_id', '=', vote.sessionId)
    .where('tenant_id', '=', vote.tenantId)
    .where('gate_id', '=', vote.gateId)
    .executeTakeFirst();
  await db
    .insertInto('approvals')
    .values({
      tenant_id: vote.tenantId,
      session_id: vote.sessionId,
      gate_id: vote.gateId,
      tool_call_hash: gate?.tool_call_hash ?? null,
      approver: vote.approver,
      roles: JSON.stringify(vote.roles),
      channel: vote.channel,
      decision: vote.decision,
      outcome: `refused:${vote.code}`,
      comment: vote.comment ?? null,
      idempotency_key: null,
    })
    .execute();
}

/**
 * Remembers a Slack request signature; false when it was seen before (a
 * replay). Signatures older than the five-minute window are forgotten.
 */
export async function firstSightOfSignature(db: Db, signature: string): Promise<boolean> {
  await db.deleteFrom('slack_replays').where('seen_at', '<', sql<Date>`now() - interval '10 minutes'`).execute();
  const inserted = await db
    .insertInto('slack_replays')
    .values({ signature })
    .onConflict((oc) => oc.column('signature').doNothing())
    .returning('signature')
    .executeTakeFirst();
  return inserted !== undefined;
}

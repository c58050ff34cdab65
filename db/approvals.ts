/** Gates and approval decisions as the API reads and audits them (always scoped to a tenant). */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { GateState, GateStatus } from '../domain/gate.js';
import type { Db } from './client.js';
import type { Database, GatesTable } from './schema.js';
import { storableJson } from './storable.js';

/** Gates of a tenant, newest first; `pending` = still open. */
export async function listGates(db: Db, tenantId: string, options: { status: 'pending' | 'closed' | 'all'; limit: number; sessionId?: string | undefined }) {
  let q = db.selectFrom('gates').selectAll().where('tenant_id', '=', tenantId);
  if (options.status === 'pending') q = q.where('status', '=', 'open').where('expires_at', '>', new Date());
  if (options.status === 'closed') q = q.where('status', '!=', 'open');
  if (options.sessionId) q = q.where('session_id', '=', options.sessionId);
  return q.orderBy('opened_at', 'desc').limit(options.limit).execute();
}

/** A session's open gates, in the order they opened (the workflow's own order); unlike listGates' `pending`, one past its expiry that the workflow has not closed yet is still open. */
export async function openGateRows(db: Db, tenantId: string, sessionId: string): Promise<Selectable<GatesTable>[]> {
  return db
    .selectFrom('gates')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('session_id', '=', sessionId)
    .where('status', '=', 'open')
    .orderBy('opened_at')
    .orderBy('gate_id')
    .execute();
}

/** One gate of a session, as the gates table holds it now. */
export async function getGateRow(db: Db, tenantId: string, sessionId: string, gateId: string) {
  return db
    .selectFrom('gates')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('session_id', '=', sessionId)
    .where('gate_id', '=', gateId)
    .executeTakeFirst();
}

/** A gates row as the gate it stores (the inbox's shape; the workflow holds the truth, the row follows it). */
export function gateOfRow(row: Selectable<GatesTable>): GateState {
  return {
    id: row.gate_id,
    toolCallId: row.tool_call_id,
    tool: row.tool,
    arguments: row.arguments,
    risk: row.risk,
    reason: row.reason,
    ruleId: row.rule_id,
    requester: row.requester,
    required: row.required,
    roles: row.roles,
    excludedApprovers: row.excluded_approvers,
    approvals: row.approvals,
    status: row.status as GateStatus,
    rejectedBy: row.rejected_by ?? undefined,
    openedAt: row.opened_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    slackChannel: row.slack_channel,
  };
}

/** A vote the workflow took, for the audit table (written with its event, db/session-records.ts). */
export interface ApprovalRecord {
  readonly gateId: string;
  readonly approver: string;
  readonly roles: readonly string[];
  readonly channel: string;
  readonly decision: string;
  readonly outcome: string;
  readonly comment?: string | undefined;
}

/**
 * One row of the `approvals` audit, with the gate's tool-call hash: a vote the
 * workflow decided (keyed, so a retried write is stored once) or one the API
 * refused before it reached the workflow (no key).
 */
export async function insertApprovalAudit(
  db: Kysely<Database>,
  ref: { readonly tenantId: string; readonly sessionId: string },
  vote: ApprovalRecord,
  idempotencyKey: string | null,
): Promise<void> {
  const gate = await db
    .selectFrom('gates')
    .select('tool_call_hash')
    .where('session_id', '=', ref.sessionId)
    .where('tenant_id', '=', ref.tenantId)
    .where('gate_id', '=', vote.gateId)
    .executeTakeFirst();
  await db
    .insertInto('approvals')
    .values({
      tenant_id: ref.tenantId,
      session_id: ref.sessionId,
      gate_id: vote.gateId,
      tool_call_hash: gate?.tool_call_hash ?? null,
      approver: vote.approver,
      roles: storableJson(vote.roles),
      channel: vote.channel,
      decision: vote.decision,
      outcome: vote.outcome,
      comment: vote.comment ?? null,
      idempotency_key: idempotencyKey,
    })
    .onConflict((oc) => oc.columns(['session_id', 'idempotency_key']).doNothing())
    .execute();
}

/** Audits a vote the API refused before it reached the workflow (who tried what, and why not). */
export async function recordRefusedVote(
  db: Db,
  vote: { tenantId: string; sessionId: string; gateId: string; approver: string; roles: readonly string[]; channel: string; decision: string; code: string; comment?: string | undefined },
): Promise<void> {
  const { tenantId, sessionId, code, ...rest } = vote;
  await insertApprovalAudit(db, { tenantId, sessionId }, { ...rest, outcome: `refused:${code}` }, null);
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

/** Where a gate's Slack message was posted, if it was (a retried post finds it here). */
export async function gateSlackMessage(db: Db, ref: { tenantId: string; sessionId: string; gateId: string }): Promise<{ channel: string; ts: string } | undefined> {
  const row = await db
    .selectFrom('gates')
    .select(['slack_channel', 'slack_message_channel', 'slack_ts'])
    .where('tenant_id', '=', ref.tenantId)
    .where('session_id', '=', ref.sessionId)
    .where('gate_id', '=', ref.gateId)
    .executeTakeFirst();
  // A row posted by a worker before 0014 (during a rollout) has the message's channel in slack_channel.
  const channel = row?.slack_message_channel ?? row?.slack_channel;
  return row?.slack_ts && channel ? { channel, ts: row.slack_ts } : undefined;
}

/** Stores where the gate's Slack message went; the tenant is in the filter like every gate query's. */
export async function setGateSlackMessage(db: Db, ref: { tenantId: string; sessionId: string; gateId: string }, message: { channel: string; ts: string }): Promise<void> {
  await db
    .updateTable('gates')
    .set({ slack_message_channel: message.channel, slack_ts: message.ts })
    .where('tenant_id', '=', ref.tenantId)
    .where('session_id', '=', ref.sessionId)
    .where('gate_id', '=', ref.gateId)
    .execute();
}

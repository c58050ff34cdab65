/**
 * Reads and writes of one session's records: its row, its transcript and its
 * event log. Writes are idempotent (a retried activity changes nothing twice)
 * and events get their `seq` under the session row's lock, in commit order.
 */
import { createHash } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { canonicalJson } from '../domain/canonical-json.js';
import { EVENT_TYPES, ONCE_EVENT_KEYS, type EventKey, type EventType } from '../domain/events.js';
import type { GateState } from '../domain/gate.js';
import type { SessionRef } from '../domain/session.js';
import { insertApprovalAudit, type ApprovalRecord } from './approvals.js';
import type { Db } from './client.js';
import type { Database, MessageRole, SessionStatus, SessionUsage, StoredToolCall } from './schema.js';
import { storableJson } from './storable.js';

export interface NewEvent {
  /** Unique within the session; the same key twice writes one event. `<source>:<id>`, made by domain/events.ts eventKey. */
  readonly key: EventKey;
  readonly type: EventType;
  readonly data: Record<string, unknown>;
  /** The gate this event changes: its row is upserted in the same transaction. */
  readonly gate?: GateState | undefined;
  /** The vote this event records: an audit row in the same transaction (keyed like the event). */
  readonly approval?: ApprovalRecord | undefined;
}

export interface NewMessage {
  readonly seq: number;
  readonly role: MessageRole;
  readonly content: string | null;
  readonly toolCalls?: readonly StoredToolCall[] | undefined;
  readonly toolCallId?: string | undefined;
}

export interface SessionPatch {
  readonly status?: SessionStatus;
  readonly step?: number;
  readonly usage?: SessionUsage;
  readonly finalAnswer?: string | null;
  readonly error?: string | null;
  readonly ended?: boolean;
}

/** What one write of a session holds (writeSessionRecords). */
export interface SessionRecords {
  readonly messages?: readonly NewMessage[];
  readonly events?: readonly NewEvent[];
  readonly patch?: SessionPatch;
}

export interface NewSessionRow {
  readonly id: string;
  readonly tenantId: string;
  readonly agent: string;
  readonly requester: string;
  readonly policyName: string;
  readonly policyHash: string;
  readonly model: string | null;
  readonly metadata: Record<string, string>;
  readonly createdAt: string;
  /** The agent version the session pinned (its sha), when it runs a registered agent. */
  readonly agentVersion?: string | null;
}

/** The session row does not exist (or belongs to another tenant). */
export class SessionNotFoundError extends Error {
  override readonly name = 'SessionNotFoundError';
}

export const EMPTY_USAGE: SessionUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0, llmCalls: 0, toolCalls: 0 };

/**
 * Inserts the session row unless it exists: the only insert of a `sessions` row. Its one caller in
 * production is POST /v1/sessions, in the transaction that admits the session, before the workflow
 * starts, so GET answers at once. The workflow's `startSession` writes into the row and never creates it.
 * Answers the row as stored (POST /v1/sessions answers with it, without reading it back); undefined when the id existed.
 */
export async function createSessionRow(db: Db, row: NewSessionRow) {
  return db
    .insertInto('sessions')
    .values({
      id: row.id,
      tenant_id: row.tenantId,
      agent: row.agent,
      requester: row.requester,
      status: 'running',
      policy_name: row.policyName,
      policy_hash: row.policyHash,
      model: row.model,
      metadata: storableJson(row.metadata),
      usage: storableJson(EMPTY_USAGE),
      created_at: row.createdAt,
      agent_version: row.agentVersion ?? null,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/**
 * Ends a session whose workflow was never started (api/session-starter.ts gave its start up): status `failed`,
 * the error, and its `session.ended` event, so that the event stream and the console see the end. One
 * transaction, and only while `claim` holds (the start's row was still there to take) and the row has not
 * ended: a start made meanwhile by another process, or a session already ended, is left as it is.
 * Answers whether it ended the session.
 */
export async function failUnstartedSession(
  db: Db,
  tenantId: string,
  sessionId: string,
  error: string,
  claim?: (trx: Transaction<Database>) => Promise<boolean>,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    if (claim && !(await claim(trx))) return false;
    const row = await trx
      .selectFrom('sessions')
      .select('created_at')
      .where('id', '=', sessionId)
      .where('tenant_id', '=', tenantId)
      .where('ended_at', 'is', null)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return false;
    const ref: SessionRef = { tenantId, sessionId, createdAt: row.created_at.toISOString() };
    await writeRecordsIn(trx, ref, endRecords({ status: 'failed', finalAnswer: null, error, usage: EMPTY_USAGE, step: 0 }));
    return true;
  });
}

/** How a session ends: the workflow's end (activities/session-activities.ts finishSession), or a start given up. */
export interface SessionEnd {
  readonly status: SessionStatus;
  readonly finalAnswer: string | null;
  readonly error: string | null;
  readonly usage: SessionUsage;
  readonly step: number;
}

/** The records of a session's end: its `session.ended` event and the row's last patch. */
export function endRecords(end: SessionEnd): { events: NewEvent[]; patch: SessionPatch } {
  return {
    events: [
      {
        key: ONCE_EVENT_KEYS.ended,
        type: EVENT_TYPES.sessionEnded,
        data: { status: end.status, finalAnswer: end.finalAnswer, error: end.error, usage: end.usage, steps: end.step },
      },
    ],
    patch: { status: end.status, finalAnswer: end.finalAnswer, error: end.error, usage: end.usage, step: end.step, ended: true },
  };
}

/** sha256 of the tool and its arguments: what an approval was for, in the audit. */
export function toolCallHash(tool: string, args: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson({ tool, arguments: args })).digest('hex');
}

async function writeGatesAndApprovals(trx: Transaction<Database>, ref: SessionRef, events: readonly NewEvent[]) {
  for (const event of events) {
    if (event.gate) {
      const g = event.gate;
      const closed = g.status !== 'open';
      const row = {
        tenant_id: ref.tenantId,
        session_id: ref.sessionId,
        gate_id: g.id,
        tool_call_id: g.toolCallId,
        tool: g.tool,
        arguments: storableJson(g.arguments),
        tool_call_hash: toolCallHash(g.tool, g.arguments),
        risk: g.risk,
        reason: g.reason,
        rule_id: g.ruleId,
        requester: g.requester,
        required: g.required,
        roles: storableJson(g.roles),
        excluded_approvers: storableJson(g.excludedApprovers),
        approvals: storableJson(g.approvals),
        status: g.status,
        rejected_by: g.rejectedBy ?? null,
        opened_at: g.openedAt,
        expires_at: g.expiresAt,
        closed_at: closed ? sql<Date>`now()` : null,
        slack_channel: g.slackChannel,
      };
      await trx
        .insertInto('gates')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['session_id', 'gate_id']).doUpdateSet({
            approvals: row.approvals,
            status: row.status,
            rejected_by: row.rejected_by,
            closed_at: closed ? sql<Date>`coalesce(gates.closed_at, now())` : null,
            updated_at: sql<Date>`now()`,
          }),
        )
        .execute();
    }
    if (event.approval) await insertApprovalAudit(trx, ref, event.approval, event.key);
  }
}

/**
 * Writes messages, events and a patch of the session row in one transaction: the one writer of
 * `session_events`, for the workflow's events (recordEvents) and the activities' own alike.
 * Messages already stored at their seq and events already stored under their
 * key are left as they are.
 */
export async function writeSessionRecords(
  db: Db,
  ref: SessionRef,
  records: SessionRecords,
): Promise<{ messagesInserted: number }> {
  return db.transaction().execute((trx) => writeRecordsIn(trx, ref, records));
}

/** A CTE of writeRecordsIn's statement when the write has no messages or no events: no rows. */
const NO_ROWS = sql<{ seq: number }>`(select null::integer as seq where false)`;

/**
 * writeSessionRecords within a transaction of the caller's. Four round trips with BEGIN and COMMIT for messages and
 * events (issue 16: it was seven), more only for the gates and votes a write carries: the row's lock, then one statement that
 * inserts the messages, numbers and inserts the events not stored yet and updates the row. That statement
 * runs after the lock is held, so its snapshot sees every event a write before it committed (under READ
 * COMMITTED each statement takes its own); in the lock's own statement it would not, when that one waited.
 */
async function writeRecordsIn(
  trx: Transaction<Database>,
  ref: SessionRef,
  records: SessionRecords,
): Promise<{ messagesInserted: number }> {
  const locked = await trx
    .selectFrom('sessions')
    .select('last_event_seq')
    .where('id', '=', ref.sessionId)
    .where('tenant_id', '=', ref.tenantId)
    .forUpdate()
    .executeTakeFirst();
  if (!locked) throw new SessionNotFoundError(`session ${ref.sessionId} of tenant ${ref.tenantId} does not exist`);

  const messages = records.messages ?? [];
  const events = records.events ?? [];
  const patch = records.patch ?? {};
  const written = await trx
    // A message number already stored keeps what it holds (a retried write); the count tells the caller.
    .with('new_messages', (db) =>
      messages.length > 0
        ? db
            .insertInto('messages')
            .values(
              messages.map((m) => ({
                tenant_id: ref.tenantId,
                session_id: ref.sessionId,
                seq: m.seq,
                role: m.role,
                content: m.content,
                tool_calls: m.toolCalls ? storableJson(m.toolCalls) : null,
                tool_call_id: m.toolCallId ?? null,
              })),
            )
            .onConflict((oc) => oc.columns(['session_id', 'seq']).doNothing())
            .returning('seq')
        : NO_ROWS,
    )
    .with('new_events', () => insertEvents(ref, locked.last_event_seq, events))
    .updateTable('sessions')
    .set({
      last_event_seq: sql<number>`${locked.last_event_seq}::integer + (select count(*) from new_events)::integer`,
      updated_at: sql`now()`,
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      ...(patch.step !== undefined ? { step: patch.step } : {}),
      ...(patch.usage !== undefined ? { usage: storableJson(patch.usage) } : {}),
      ...(patch.finalAnswer !== undefined ? { final_answer: patch.finalAnswer } : {}),
      ...(patch.error !== undefined ? { error: patch.error } : {}),
      ...(patch.ended ? { ended_at: sql`coalesce(ended_at, now())` } : {}),
    })
    .where('id', '=', ref.sessionId)
    .where('tenant_id', '=', ref.tenantId)
    .returning(sql<string>`(select count(*) from new_messages)`.as('messages_inserted'))
    .executeTakeFirstOrThrow();
  await writeGatesAndApprovals(trx, ref, events);
  return { messagesInserted: Number(written.messages_inserted) };
}

/**
 * The insert of the events whose key the session has not stored yet (the first of a key twice in one write),
 * numbered on from `lastSeq` in the order given: a CTE of writeRecordsIn's statement, returning their seqs.
 */
function insertEvents(ref: SessionRef, lastSeq: number, events: readonly NewEvent[]) {
  if (events.length === 0) return NO_ROWS;
  const incoming = sql.join(events.map((e, i) => sql`(${i}::integer, ${e.key}::text, ${e.type}::text, ${storableJson(e.data)}::jsonb)`));
  // In parentheses: kysely puts a raw CTE's text as it is.
  return sql<{ seq: number }>`(
    insert into session_events (tenant_id, session_id, session_created_at, seq, idempotency_key, type, data)
    select ${ref.tenantId}, ${ref.sessionId}, ${ref.createdAt}::timestamptz, ${lastSeq}::integer + row_number() over (order by ord), key, type, data
    from (
      select distinct on (key) ord, key, type, data
      from (values ${incoming}) as incoming (ord, key, type, data)
      where not exists (
        select 1 from session_events stored
        where stored.session_id = ${ref.sessionId} and stored.tenant_id = ${ref.tenantId}
          and stored.session_created_at = ${ref.createdAt}::timestamptz and stored.idempotency_key = incoming.key
      )
      order by key, ord
    ) as fresh
    returning seq
  )`;
}

/** The transcript before `beforeSeq`, in order. */
export async function loadTranscript(db: Db, ref: SessionRef, beforeSeq: number) {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('session_id', '=', ref.sessionId)
    .where('tenant_id', '=', ref.tenantId)
    .where('seq', '<', beforeSeq)
    .orderBy('seq')
    .execute();
}

export async function getMessage(db: Db, ref: SessionRef, seq: number) {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('session_id', '=', ref.sessionId)
    .where('tenant_id', '=', ref.tenantId)
    .where('seq', '=', seq)
    .executeTakeFirst();
}

export async function getEventByKey(db: Db, ref: SessionRef, key: EventKey) {
  return db
    .selectFrom('session_events')
    .selectAll()
    .where('session_id', '=', ref.sessionId)
    .where('session_created_at', '=', new Date(ref.createdAt))
    .where('tenant_id', '=', ref.tenantId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/**
 * Events after `afterSeq`, in order (the SSE stream's read). `sessionCreatedAt` is the partition key (the session row's created_at): with it Postgres reads the one
 * monthly partition that holds the session, not all of them, on every SSE poll.
 */
export function eventsAfterQuery(db: Db, tenantId: string, sessionId: string, sessionCreatedAt: Date, afterSeq: number, limit = 500) {
  return db
    .selectFrom('session_events')
    .select(['seq', 'type', 'data', 'created_at'])
    .where('session_created_at', '=', sessionCreatedAt)
    .where('session_id', '=', sessionId)
    .where('tenant_id', '=', tenantId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit);
}

export async function readEvents(db: Db, tenantId: string, sessionId: string, sessionCreatedAt: Date, afterSeq: number, limit = 500) {
  return eventsAfterQuery(db, tenantId, sessionId, sessionCreatedAt, afterSeq, limit).execute();
}

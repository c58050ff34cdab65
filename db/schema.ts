/**
 * Kysely's view of the database. Every table holding tenant data carries
 * `tenant_id`, and every query of it filters by that column.
 */
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

export interface TenantsTable {
  id: string;
  name: string;
  created_at: CreatedAt;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  /** Who acts with this key: the requester of sessions it starts, the approver of gates it answers. */
  principal: string;
  roles: JSONColumnType<string[]>;
  /** sha256 hex of the key; the key itself is shown once and never stored. */
  key_hash: string;
  created_at: CreatedAt;
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export type SessionStatus =
  | 'running'
  | 'waiting_approval'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'max_steps'
  | 'max_cost';

export interface SessionUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  llmCalls: number;
  toolCalls: number;
}

export interface SessionsTable {
  id: string;
  tenant_id: string;
  agent: string;
  requester: string;
  status: SessionStatus;
  policy_name: string;
  policy_hash: string;
  model: string | null;
  metadata: JSONColumnType<Record<string, string>>;
  step: ColumnType<number, number | undefined, number>;
  usage: JSONColumnType<SessionUsage>;
  final_answer: string | null;
  error: string | null;
  /** The highest `session_events.seq` written; the row lock on it orders event writes. */
  last_event_seq: ColumnType<number, number | undefined, number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  ended_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export type MessageRole = 'system' | 'user' | 'assistant' | 'tool';

export interface StoredToolCall {
  id: string;
  name: string;
  /** As the model sent it: may be malformed JSON, which the workflow reports back. */
  arguments: string;
}

/** The transcript: one row per message, in the order the workflow assigned. */
export interface MessagesTable {
  tenant_id: string;
  session_id: string;
  seq: number;
  role: MessageRole;
  content: string | null;
  tool_calls: JSONColumnType<StoredToolCall[] | null, StoredToolCall[] | null | string, never>;
  tool_call_id: string | null;
  created_at: CreatedAt;
}

/**
 * What happened in a session, in commit order: `seq` is assigned under a lock
 * on the session row, so readers never see a later event before an earlier one.
 * Partitioned by the month the session started (`session_created_at`).
 */
export interface SessionEventsTable {
  tenant_id: string;
  session_id: string;
  session_created_at: ColumnType<Date, Date | string, never>;
  seq: number;
  /** Makes writes idempotent: a retried activity writes nothing twice. */
  idempotency_key: string;
  type: string;
  data: JSONColumnType<Record<string, unknown>>;
  created_at: CreatedAt;
}

export interface Database {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  messages: MessagesTable;
  session_events: SessionEventsTable;
}

export type { Generated };

/**
 * Kysely's view of the database. Every table holding tenant data carries
 * `tenant_id`, and every query of it filters by that column.
 */
import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { ArtifactsTable, ExpiredArtifactsTable, SessionLegalHoldsTable, SessionWorkspaceSourcesTable } from './artifact-tables.js';
import type { LlmSemanticCacheTable } from './semantic-cache-table.js';
import type { ArchivedMonthsTable, TenantRetentionTable } from './retention-tables.js';
import type { AgentLabelMovesTable, AgentLabelsTable, AgentPromotionsTable, AgentsTable, AgentVersionsTable } from './agent-tables.js';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

export interface TenantsTable {
  id: string;
  name: string;
  /** Which policies its principals may use (0004_policy_permissions; policies/permissions.ts validates it); null: the defaults. */
  policy_settings: ColumnType<unknown, string | null | undefined, string | null>;
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

export type { SessionStatus, SessionUsage } from '../domain/session.js';
import type { SessionStatus, SessionUsage } from '../domain/session.js';

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
  /** The agent version (sha) the session pinned at start (0005_agents); null for a free-text agent. */
  agent_version: ColumnType<string | null, string | null | undefined, string | null>;
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

export interface GateApproval {
  approver: string;
  roles: string[];
  channel: string;
  at: string;
}

/** One approval gate, as the inbox and Slack see it; the workflow holds the truth, this row follows it. */
export interface GatesTable {
  tenant_id: string;
  session_id: string;
  gate_id: string;
  tool_call_id: string;
  tool: string;
  arguments: JSONColumnType<Record<string, unknown>>;
  tool_call_hash: string;
  risk: string;
  reason: string;
  rule_id: string;
  requester: string;
  required: number;
  roles: JSONColumnType<string[]>;
  excluded_approvers: JSONColumnType<string[]>;
  approvals: JSONColumnType<GateApproval[]>;
  status: string;
  rejected_by: string | null;
  opened_at: ColumnType<Date, Date | string, Date | string>;
  expires_at: ColumnType<Date, Date | string, Date | string>;
  closed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** The policy's channel for the gate (`#approvals`), as the gate says. */
  slack_channel: string | null;
  /** Where its message was posted (Slack's channel id) and its ts: set once posted. */
  slack_message_channel: string | null;
  slack_ts: string | null;
  updated_at: UpdatedAt;
}

/** The audit of every decision: taken by the workflow, or refused by the API. */
export interface ApprovalsTable {
  id: Generated<string>;
  tenant_id: string;
  session_id: string;
  gate_id: string;
  tool_call_hash: string | null;
  approver: string;
  roles: JSONColumnType<string[]>;
  channel: string;
  decision: string;
  /** counted | duplicate | closed-the-gate | refused:<code> */
  outcome: string;
  comment: string | null;
  idempotency_key: string | null;
  created_at: CreatedAt;
}

export interface SlackReplaysTable {
  signature: string;
  seen_at: CreatedAt;
}

/** The model router's cost ledger: one row per router call, partitioned by month of `created_at`. */
export interface LlmCallsTable {
  id: string;
  created_at: ColumnType<Date, Date | string, never>;
  tenant_id: string;
  session_id: string | null;
  kind: string;
  route: string;
  request_type: string | null;
  tier: string | null;
  provider: string;
  model: string;
  provider_model: string;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  /** numeric(20,8): read as a string. */
  cost_usd: ColumnType<string, number | string, never>;
  saved_usd: ColumnType<string, number | string, never>;
  latency_ms: number;
  cache_hit: boolean;
  merged: boolean;
  fallback_used: boolean;
  downgraded_from: string | null;
  attempts: number;
  outcome: string;
  error_class: string | null;
  usage_estimated: boolean;
  /** The semantic cache's lookup (0011): hit, miss, skipped, error; null when the route has none. */
  semantic_cache: string | null;
  /** The best similarity that lookup found. */
  semantic_similarity: number | null;
}

/** Answers of deterministic model requests, per tenant, until `expires_at`. */
export interface LlmCacheTable {
  tenant_id: string;
  cache_key: string;
  model: string;
  value: JSONColumnType<Record<string, unknown>>;
  cost_usd: ColumnType<string, number | string, number | string>;
  created_at: CreatedAt;
  expires_at: ColumnType<Date, Date | string, Date | string>;
}

/** A tenant's model spend per UTC day and month. */
export interface LlmBudgetUsageTable {
  tenant_id: string;
  period: 'day' | 'month';
  period_start: ColumnType<string, string, never>;
  spent_usd: ColumnType<string, number | string, number | string>;
  updated_at: UpdatedAt;
}

/** Money set aside for model calls in flight (see llm_budget_reserve in 0003_router). */
export interface LlmBudgetReservationsTable {
  id: string;
  tenant_id: string;
  amount_usd: ColumnType<string, number | string, never>;
  day: ColumnType<string, string, never>;
  month: ColumnType<string, string, never>;
  expires_at: ColumnType<Date, Date | string, Date | string>;
  created_at: CreatedAt;
}

/** A tenant's own limits (0004_tenant_limits); null takes the configured default (TENANT_* in config/index.ts). */
export interface TenantLimitsTable {
  tenant_id: string;
  running_sessions: number | null;
  sandboxes: number | null;
  sse_streams: number | null;
  requests_per_second: number | null;
  request_burst: number | null;
  idle_timeout_seconds: number | null;
  /** 0008_artifacts: bigint, answered as a string. */
  artifact_bytes: ColumnType<string | null, number | null | undefined, number | null>;
  artifact_total_bytes: ColumnType<string | null, number | null | undefined, number | null>;
  updated_at: UpdatedAt;
}

/** The sandbox each running session holds, counted per tenant at claim (activities/tenant-sandboxes.ts). */
export interface SandboxLeasesTable {
  session_id: string;
  tenant_id: string;
  claimed_at: CreatedAt;
}

/** A workflow start Temporal has not accepted yet (0015_session_starts, api/session-starter.ts). */
export interface SessionStartsTable {
  session_id: string;
  tenant_id: string;
  /** The workflow input as a Temporal payload (binary proto), encrypted for the tenant when a codec is set. */
  input: Buffer;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
  /** Until then the process that wrote or last tried it owns the start; after, any API's sweep may try. */
  next_attempt_at: ColumnType<Date, Date | string, Date | string>;
  created_at: CreatedAt;
}

/** A tenant's own policy managed through the API (0006_policy_versions); its content lives in policy_versions. */
export interface TenantPoliciesTable {
  id: Generated<string>;
  tenant_id: string;
  name: string;
  created_by: string;
  created_at: CreatedAt;
}

/** One immutable version of a tenant policy: `policy` is the resolved, validated policy whose canonical JSON hashes to `sha256`. */
export interface PolicyVersionsTable {
  policy_id: string;
  tenant_id: string;
  version: number;
  sha256: string;
  /** As the author wrote it, kept verbatim for display and diffs. */
  yaml: string;
  policy: ColumnType<unknown, string, never>;
  extends: string | null;
  author: string;
  change_note: string | null;
  created_at: CreatedAt;
}

/** A host granted to one sandbox at the egress proxy after approval (0007_egress_grants); port 0: 80 and 443. */
export interface EgressGrantsTable {
  container_id: string;
  host: string;
  port: number;
  tenant_id: string;
  session_id: string;
  granted_by: string;
  gate: string | null;
  granted_at: CreatedAt;
}

export interface Database {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  messages: MessagesTable;
  session_events: SessionEventsTable;
  gates: GatesTable;
  approvals: ApprovalsTable;
  slack_replays: SlackReplaysTable;
  llm_calls: LlmCallsTable;
  llm_cache: LlmCacheTable;
  llm_semantic_cache: LlmSemanticCacheTable;
  llm_budget_usage: LlmBudgetUsageTable;
  llm_budget_reservations: LlmBudgetReservationsTable;
  tenant_limits: TenantLimitsTable;
  artifacts: ArtifactsTable;
  session_workspace_sources: SessionWorkspaceSourcesTable;
  expired_artifacts: ExpiredArtifactsTable;
  session_legal_holds: SessionLegalHoldsTable;
  sandbox_leases: SandboxLeasesTable;
  session_starts: SessionStartsTable;
  egress_grants: EgressGrantsTable;
  agents: AgentsTable;
  agent_versions: AgentVersionsTable;
  agent_labels: AgentLabelsTable;
  agent_label_moves: AgentLabelMovesTable;
  agent_promotions: AgentPromotionsTable;
  tenant_policies: TenantPoliciesTable;
  policy_versions: PolicyVersionsTable;
  tenant_retention: TenantRetentionTable;
  archived_months: ArchivedMonthsTable;
}

export type { Generated };

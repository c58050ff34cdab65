/** Kysely's view of the Agent Builder tables (0005_agents); part of `Database` in schema.ts. */
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface AgentsTable {
  id: string;
  tenant_id: string;
  slug: string;
  created_by: string;
  created_at: CreatedAt;
}

/** Immutable: inserted once, never updated. `spec` is the content whose canonical JSON hashes to `sha`. */
export interface AgentVersionsTable {
  tenant_id: string;
  agent_id: string;
  sha: string;
  number: number;
  spec: ColumnType<unknown, string, never>;
  change_note: string | null;
  author: string;
  created_at: CreatedAt;
}

export interface AgentLabelsTable {
  tenant_id: string;
  agent_id: string;
  label: string;
  sha: string;
  updated_by: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** The audit of label moves: who moved which label from where to where, and why. */
export interface AgentLabelMovesTable {
  id: Generated<string>;
  tenant_id: string;
  agent_id: string;
  label: string;
  from_sha: string | null;
  to_sha: string;
  moved_by: string;
  why: string;
  /** Set when the move waited on a promotion gate; `approvers` are who approved it. */
  promotion_id: string | null;
  approvers: JSONColumnType<string[]>;
  created_at: CreatedAt;
}

export type PromotionStatus = 'pending' | 'approved' | 'rejected' | 'timed_out' | 'failed';

export interface AgentPromotionsTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  label: string;
  from_sha: string | null;
  to_sha: string;
  requester: string;
  why: string;
  reasons: ColumnType<unknown, string, never>;
  status: PromotionStatus;
  /** The gate as the promotion workflow last wrote it (workflows/gates.ts `Gate`). */
  gate: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: CreatedAt;
  closed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/**
 * What an approval gate is, for every layer: the votes cast on it, the view handed out by the workflow's
 * query and update (workflows/gates.ts gateView makes it), the mutable gate the workflow holds, and its
 * stored state: what the workflow writes with the event that changes it and the gates table holds
 * (db/approvals.ts `gateOfRow` reads a row back; domain/gate-schema.ts checks one read from JSON).
 * Bottom layer: imports nothing of the project and is safe in workflow code.
 */

export const GATE_STATUSES = ['open', 'approved', 'rejected', 'timed_out', 'cancelled'] as const;
export type GateStatus = (typeof GATE_STATUSES)[number];

/** One approver's vote that counted. */
export interface GateApproval {
  readonly approver: string;
  readonly roles: readonly string[];
  readonly channel: string;
  readonly at: string;
}

/** One approval gate: a tool call waiting for N distinct approvers. */
export interface GateView {
  readonly id: string;
  readonly toolCallId: string;
  readonly tool: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly risk: string;
  readonly reason: string;
  readonly ruleId: string;
  readonly requester: string;
  /** Distinct approvers needed in all. */
  readonly required: number;
  /** One distinct approver per entry must hold that role. */
  readonly roles: readonly string[];
  readonly excludedApprovers: readonly string[];
  readonly approvals: readonly GateApproval[];
  /** Required roles no approver covers yet. */
  readonly missingRoles: readonly string[];
  readonly rejectedBy?: string | undefined;
  readonly status: GateStatus;
  readonly openedAt: string;
  readonly expiresAt: string;
  /** Where the gate is posted with buttons, if the policy names a channel. */
  readonly slackChannel: string | null;
}

export type ApprovalDecision = 'approve' | 'reject';

export interface ApprovalVote {
  readonly gateId: string;
  readonly approver: string;
  readonly decision: ApprovalDecision;
  readonly channel: 'api' | 'slack';
  readonly roles?: readonly string[] | undefined;
  readonly comment?: string | undefined;
  /** The API's signature over the vote (activities/vote-proof.ts); a vote without a valid one never counts. */
  readonly proof?: string | undefined;
}

/** A gate's stored state, without what is derived from it: what the gates table holds and the inbox reads. */
export type GateState = Omit<GateView, 'missingRoles'>;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The gate as the workflow holds it: votes change its status and approvals in place. */
export type Gate = Mutable<GateState> & {
  approvals: { approver: string; roles: readonly string[]; channel: string; at: string }[];
};

/**
 * What a session is, for every layer: its id's shape, its statuses and which of them end it, its usage.
 * Bottom layer: imports nothing of the project but the gate types, and is safe in workflow code.
 */
import type { GateView } from './gate.js';

/** A session id as the API hands it out: `ses_` and a UUID (the pattern leaves room for other suffixes). */
export const SESSION_ID_PATTERN = /^ses_[a-z0-9-]{8,64}$/;

export const SESSION_STATUSES = ['running', 'waiting_approval', 'completed', 'failed', 'cancelled', 'max_steps', 'max_cost'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** The statuses a session ends in; nothing changes it after. */
export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled', 'max_steps', 'max_cost'] as const satisfies readonly SessionStatus[];

export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isTerminalStatus(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** The statuses of a session that has not ended: every status but the terminal ones. */
export type ActiveStatus = Exclude<SessionStatus, TerminalStatus>;
export const ACTIVE_STATUSES: readonly ActiveStatus[] = SESSION_STATUSES.filter((s): s is ActiveStatus => !isTerminalStatus(s));

/** What activities and workflows carry to name a session instead of its transcript. */
export interface SessionRef {
  readonly tenantId: string;
  readonly sessionId: string;
  /** ISO time the session started: the partition key of its events. */
  readonly createdAt: string;
}

export interface SessionUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  llmCalls: number;
  toolCalls: number;
}

/**
 * A running session as its workflow's `state` query answers it (domain/temporal-names.ts SESSION_HANDLERS):
 * read by the API and by the sandbox pool's orphan check (sandbox/lease-check.ts).
 */
export interface SessionStateView {
  readonly sessionId: string;
  readonly status: SessionStatus;
  readonly step: number;
  readonly usage: SessionUsage;
  readonly pendingApprovals: readonly GateView[];
  readonly sandbox: { readonly containerId: string; readonly hostId: string } | null;
  readonly run: number;
  readonly finalAnswer: string | null;
}

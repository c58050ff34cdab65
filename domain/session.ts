/**
 * What a session is, for every layer: its id's shape, its statuses and which of them end it, its usage.
 * Bottom layer: imports nothing of the project and is safe in workflow code.
 */

/** A session id as the API hands it out: `ses_` and a UUID (the pattern leaves room for other suffixes). */
export const SESSION_ID_PATTERN = /^ses_[a-z0-9-]{8,64}$/;

export const SESSION_STATUSES = ['running', 'waiting_approval', 'completed', 'failed', 'cancelled', 'max_steps', 'max_cost'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** The statuses a session ends in; nothing changes it after. */
export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled', 'max_steps', 'max_cost'] as const satisfies readonly SessionStatus[];

export function isTerminalStatus(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export interface SessionUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  llmCalls: number;
  toolCalls: number;
}

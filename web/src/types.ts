/**
 * Response types, from the API's own definitions: the session's state and
 * gates as the workflow defines them, the stored usage, the approval display
 * the inbox and Slack share, and the request schema of POST /v1/sessions.
 */
import type { z } from 'zod';
import type { presentVersion } from '../../api/agent-versions.js';
import type { presentPromotion } from '../../api/routes/agent-promotions.js';
import type { createSessionSchema } from '../../api/routes/sessions.js';
import type { SessionStatus, SessionUsage } from '../../db/schema.js';
import type { DisplayFlag } from '../../policies/approval-display.js';
import type { GateView } from '../../workflows/definitions.js';

export type { GateView, SessionStatus, SessionUsage };
export type CreateSession = z.input<typeof createSessionSchema>;

export const TERMINAL: readonly SessionStatus[] = ['completed', 'failed', 'cancelled', 'max_steps', 'max_cost'];

/** GET /v1/sessions/:id (api/routes/sessions.ts present()). */
export interface SessionJson {
  id: string;
  agent: string;
  agentVersion?: string | null;
  requester: string;
  status: SessionStatus;
  policy: { name: string; hash: string };
  model: string | null;
  step: number;
  usage: SessionUsage;
  finalAnswer: string | null;
  error: string | null;
  pendingApprovals: GateView[];
  createdAt: string;
  endedAt: string | null;
  links: { temporalUi: string; events: string; history: string };
}

/** GET /v1/approvals (api/inbox-entry.ts): a gate plus what approvers see. */
export interface InboxItem extends Pick<GateView, 'tool' | 'arguments' | 'risk' | 'reason' | 'ruleId' | 'requester' | 'required' | 'roles' | 'approvals' | 'status' | 'openedAt' | 'expiresAt'> {
  /** Null for an agent promotion's gate (api/routes/agent-promotions.ts): then `agent` and `promotionId` say which. */
  sessionId: string | null;
  agent?: string;
  promotionId?: string;
  gateId: string;
  links: { approve: string };
  display: { text: string; sha256: string; bytes: number; flags: DisplayFlag[] };
  canApprove: boolean;
  cannotApproveBecause: string | null;
}

/** One SSE event of GET /v1/sessions/:id/events. */
export interface SessionEvent {
  seq: number;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

/** The Agent Builder's responses (api/routes/agents.ts, api/agent-versions.ts, agents/). */
export type { AgentSpec } from '../../agents/schema.js';
export type { FieldChange } from '../../agents/diff.js';
export type { PromotionRisk } from '../../agents/risk.js';
export type AgentVersionJson = ReturnType<typeof presentVersion>;
export type PromotionJson = ReturnType<typeof presentPromotion>;

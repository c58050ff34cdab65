/**
 * Response types, from the API's own definitions (none written by hand here):
 * the session and inbox entry as the API builds them, the gates and event
 * types as domain/ defines them, and the request schema of POST /v1/sessions.
 * The console imports api/ as types only and domain/ (pure), nothing else of
 * the server (test/unit/layers.test.ts).
 */
import type { z } from 'zod';
import type { presentVersion } from '../../api/agent-versions.js';
import type { presentPromotion } from '../../api/routes/agent-promotions.js';
import type { inboxEntry } from '../../api/inbox-entry.js';
import type { createSessionSchema } from '../../api/routes/sessions.js';
import type { EventType } from '../../domain/events.js';
import type { GateView } from '../../domain/gate.js';
import type { SessionStatus, SessionUsage } from '../../domain/session.js';
import { TERMINAL_STATUSES } from '../../domain/session.js';

export type { EventType, GateView, SessionStatus, SessionUsage };
export type CreateSession = z.input<typeof createSessionSchema>;

export const TERMINAL: readonly SessionStatus[] = TERMINAL_STATUSES;

/** GET /v1/sessions/:id, as the API builds it (api/routes/sessions.ts presentSession). */
export type { SessionJson } from '../../api/routes/sessions.js';

/** GET /v1/approvals, as the API builds an entry (api/inbox-entry.ts); a promotion's gate adds `agent` and `promotionId` and has no session. */
export type InboxItem = ReturnType<typeof inboxEntry> & { agent?: string; promotionId?: string };

/** One SSE event of GET /v1/sessions/:id/events. */
export interface SessionEvent {
  seq: number;
  type: EventType;
  at: string;
  data: Record<string, unknown>;
}

/** The Agent Builder's responses (api/routes/agents.ts, api/agent-versions.ts). */
export type { AgentSpec, FieldChange, PromotionRisk } from '../../api/routes/agents.js';
export type AgentVersionJson = ReturnType<typeof presentVersion>;
export type PromotionJson = ReturnType<typeof presentPromotion>;

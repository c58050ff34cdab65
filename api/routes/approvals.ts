/**
 * `GET /v1/approvals`: the approvals inbox. With `status=pending` (the
 * default) it lists the open gates, across the tenant's sessions, that the
 * caller may act on: not their own sessions' gates, not gates that exclude
 * them, not gates they already approved, and not gates whose remaining need is
 * a role they do not hold. Each gate carries what the Slack message shows
 * (policies/approval-display.ts): the full arguments, the sha256 of the
 * approved text, flags for bidi, zero-width and control characters, and a
 * rendering in which they are visible.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { gateOfRow, listGates } from '../../db/approvals.js';
import type { Db } from '../../db/client.js';
import { SESSION_ID_PATTERN } from '../../domain/session.js';
import { inboxEntry } from '../inbox-entry.js';
import type { RouteDoc } from '../openapi.js';
import { parseQuery } from '../validation.js';
import { promotionInbox } from './agent-promotions.js';

const inboxQuery = z.object({
  status: z.enum(['pending', 'closed', 'all']).default('pending'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  session: z.string().regex(SESSION_ID_PATTERN).optional(),
});

export function approvalRoutes(deps: { db: Db }): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const principal = c.get('principal');
    const q = parseQuery(c, inboxQuery);
    const rows = await listGates(deps.db, principal.tenantId, { status: q.status, limit: q.limit, sessionId: q.session });
    const data = rows.map((row) =>
      inboxEntry(gateOfRow(row), principal, {
        sessionId: row.session_id,
        toolCallHash: row.tool_call_hash,
        links: { approve: `/v1/sessions/${row.session_id}/approvals`, session: `/v1/sessions/${row.session_id}` },
      }),
    );
    // Promotions of agent versions wait on gates too (api/routes/agent-promotions.ts).
    const promotions = q.status === 'pending' && !q.session ? await promotionInbox(deps.db, principal, q.limit) : [];
    return c.json({ data: [...(q.status === 'pending' ? data.filter((g) => g.canApprove) : data), ...promotions] });
  });
  return app;
}

export const approvalRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/v1/approvals',
    operationId: 'listApprovals',
    summary: 'The approvals inbox: open gates the caller may act on (status=pending), or all and closed ones',
    tag: 'approvals',
    query: inboxQuery,
    responses: { 200: { description: 'the gates', schema: z.object({ data: z.array(z.record(z.string(), z.unknown())) }) } },
  },
];

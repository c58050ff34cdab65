/**
 * `POST /v1/integrations/slack/interactions`: Slack's interactive payload
 * when someone clicks Approve or Reject on a gate's message. The request is
 * verified (signing secret, five-minute window, no replays), the Slack user
 * is mapped to a principal of a tenant, and the vote goes to the session like
 * an API vote. Slack wants an answer within three seconds; the message itself
 * is updated by the workflow once the vote is taken.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Secret } from '../../config/secret.js';
import { getPromotion } from '../../db/agents.js';
import { firstSightOfSignature } from '../../db/approvals.js';
import type { Db } from '../../db/client.js';
import { getSessionRow } from '../../db/sessions-query.js';
import type { Logger } from '../../observability/logger.js';
import { verifySlackSignature } from '../../slack/signature.js';
import type { SlackUserMap } from '../../slack/users.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { submitVote } from '../votes.js';

/** A session's gate, or an agent promotion's (`agp_…`, api/routes/agent-promotions.ts). */
const buttonValue = z.object({ sessionId: z.string().regex(/^(ses|agp)_[a-z0-9-]{8,64}$/), gateId: z.string().min(1).max(100) });

const payloadSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1) }),
  actions: z
    .array(
      z.object({
        action_id: z.enum(['approve', 'reject']),
        value: z.string().transform((v, ctx) => {
          const parsed = buttonValue.safeParse((() => { try { return JSON.parse(v); } catch { return undefined; } })());
          if (!parsed.success) {
            ctx.addIssue({ code: 'custom', message: 'not a gate button value' });
            return z.NEVER;
          }
          return parsed.data;
        }),
      }),
    )
    .min(1),
});

export interface SlackRoutesDeps {
  readonly db: Db;
  readonly temporal: Client;
  /** Signs the votes sent to sessions (VOTE_SIGNING_KEY). */
  readonly voteKey: string;
  readonly signingSecret?: Secret | undefined;
  readonly users: SlackUserMap;
  readonly logger: Logger;
}

export function slackRoutes(deps: SlackRoutesDeps): Hono {
  const app = new Hono();
  app.post('/interactions', async (c) => {
    if (!deps.signingSecret) throw new ApiError(503, 'slack_not_configured', 'SLACK_SIGNING_SECRET is not set');
    const body = await c.req.text();
    const signature = c.req.header('x-slack-signature');
    const check = verifySlackSignature(deps.signingSecret.reveal(), { timestamp: c.req.header('x-slack-request-timestamp'), signature }, body);
    if (!check.ok) throw new ApiError(401, check.reason, 'the request is not signed by Slack');
    if (!(await firstSightOfSignature(deps.db, signature as string))) throw new ApiError(401, 'replayed', 'this request was already received');

    const raw = new URLSearchParams(body).get('payload');
    let json: unknown;
    try {
      json = JSON.parse(raw ?? '');
    } catch {
      throw new ApiError(400, 'invalid_payload', 'the form field "payload" is not JSON');
    }
    const parsed = payloadSchema.safeParse(json);
    if (!parsed.success) {
      // Other interactions (shortcuts, modals) are not ours: acknowledge and do nothing.
      return c.json({ ok: false, error: 'unsupported_interaction' });
    }
    const payload = parsed.data;
    const action = payload.actions[0] as (typeof payload.actions)[number];
    const user = deps.users.get(payload.user.id);
    if (!user) {
      deps.logger.warn('slack click by an unmapped user', { slackUser: payload.user.id, gateId: action.value.gateId });
      return c.json({ ok: false, error: 'unknown_slack_user' });
    }
    const target = action.value.sessionId;
    const session = target.startsWith('agp_') ? await getPromotion(deps.db, user.tenant, target) : await getSessionRow(deps.db, user.tenant, target);
    if (!session) return c.json({ ok: false, error: 'session_not_found' });
    try {
      const result = await submitVote(
        deps,
        { tenantId: user.tenant, sessionId: session.id },
        { gateId: action.value.gateId, approver: user.principal, roles: user.roles, decision: action.action_id, channel: 'slack' },
        2_500,
      );
      return c.json({ ok: true, counted: result.counted, status: result.gate.status });
    } catch (err) {
      if (err instanceof ApiError) return c.json({ ok: false, error: err.code, message: err.message });
      throw err;
    }
  });
  return app;
}

export const slackRouteDocs: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/integrations/slack/interactions',
    operationId: 'slackInteraction',
    summary: 'Slack’s Approve and Reject buttons (signed by Slack, no API key)',
    tag: 'slack',
    auth: 'slack',
    body: z.object({ payload: z.string().describe('the interaction as JSON (Slack block_actions)') }),
    bodyContentType: 'application/x-www-form-urlencoded',
    responses: { 200: { description: 'acknowledged', schema: z.object({ ok: z.boolean(), error: z.string().optional(), counted: z.boolean().optional(), status: z.string().optional() }) }, 401: { description: 'not signed by Slack, or replayed' } },
  },
];

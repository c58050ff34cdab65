/**
 * Promotions that wait on approval: moving `production` to a looser version
 * starts the `agentPromotion` workflow, whose gate takes votes like a session
 * gate (the signed `approve` Update, api/votes.ts): never the requester, two
 * distinct approvers. Votes come here or through the inbox's link; the gate
 * also shows in GET /v1/approvals.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { Hono } from 'hono';
import { z } from 'zod';
import type { PromotionRisk } from '../../agents/risk.js';
import { agentSlug, changeNote } from '../../agents/schema.js';
import { voteSigningKey, type Env } from '../../config/index.js';
import { getPromotion, insertPromotion, listPendingPromotions, promotionGate, updatePromotion, type AgentRow, type VersionRow } from '../../db/agents.js';
import type { Db } from '../../db/client.js';
import { taskQueues } from '../../domain/temporal-names.js';
import { PROMOTION_GATE_ID, type agentPromotion, type AgentPromotionInput } from '../../workflows/agent-promotion.js';
import { inboxEntry } from '../inbox-entry.js';
import { ownedAgent } from '../agent-versions.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { parseBody, parseParams } from '../validation.js';
import { submitVote } from '../votes.js';

/** Distinct approvers a risky promotion needs (never the requester). */
export const PROMOTION_APPROVERS = 2;
/** How long a promotion waits for its approvers before it lapses. */
export const PROMOTION_TIMEOUT_MS = 3 * 86_400_000;

export interface PromotionDeps {
  readonly config: Pick<Env, 'TASK_QUEUE_PREFIX' | 'VOTE_SIGNING_KEY'>;
  readonly db: Db;
  readonly temporal: Client;
}

const promotionParams = z.object({ slug: agentSlug, id: z.string().regex(/^agp_[a-z0-9-]{8,64}$/, 'a promotion id (agp_...)') });
const voteSchema = z.object({ decision: z.enum(['approve', 'reject']), comment: changeNote.optional() }).strict();

type PromotionRow = NonNullable<Awaited<ReturnType<typeof getPromotion>>>;

export function presentPromotion(slug: string, row: PromotionRow) {
  return {
    id: row.id,
    agent: slug,
    label: row.label,
    from: row.from_sha,
    to: row.to_sha,
    requester: row.requester,
    why: row.why,
    reasons: row.reasons,
    status: row.status,
    gate: promotionGate(row.gate),
    createdAt: row.created_at.toISOString(),
    closedAt: row.closed_at?.toISOString() ?? null,
    links: { self: `/v1/agents/${slug}/promotions/${row.id}`, approve: `/v1/agents/${slug}/promotions/${row.id}/approvals` },
  };
}

/** Records the promotion and starts its workflow; the label moves when the gate is approved. */
export async function openPromotion(
  deps: PromotionDeps,
  p: { agent: AgentRow; label: string; from: VersionRow | null; to: VersionRow; requester: string; why: string; risk: PromotionRisk; slackChannel: string | null },
) {
  const id = `agp_${randomUUID()}`;
  const tenantId = p.agent.tenant_id;
  await insertPromotion(deps.db, { id, tenantId, agentId: p.agent.id, label: p.label, fromSha: p.from?.sha ?? null, toSha: p.to.sha, requester: p.requester, why: p.why, reasons: p.risk.reasons });
  const input: AgentPromotionInput = {
    tenantId,
    promotionId: id,
    agentId: p.agent.id,
    slug: p.agent.slug,
    label: p.label,
    fromSha: p.from?.sha ?? null,
    toSha: p.to.sha,
    requester: p.requester,
    why: p.why,
    reasons: p.risk.reasons.map((r) => r.why),
    approvers: PROMOTION_APPROVERS,
    timeoutMs: PROMOTION_TIMEOUT_MS,
    slackChannel: p.slackChannel,
  };
  try {
    await deps.temporal.workflow.start<typeof agentPromotion>('agentPromotion', {
      taskQueue: taskQueues(deps.config.TASK_QUEUE_PREFIX).sessions,
      workflowId: id,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
    });
  } catch (err) {
    await updatePromotion(deps.db, tenantId, id, { status: 'failed' });
    throw new ApiError(503, 'temporal_unavailable', `the promotion could not be started: ${(err as Error).message}`);
  }
  const row = await getPromotion(deps.db, tenantId, id);
  return row ? presentPromotion(p.agent.slug, row) : null;
}

export function promotionRoutes(deps: PromotionDeps): Hono {
  const app = new Hono();

  async function owned(tenantId: string, slug: string, id: string) {
    const agent = await ownedAgent(deps.db, tenantId, slug);
    const row = await getPromotion(deps.db, tenantId, id);
    if (!row || row.agent_id !== agent.id) throw new ApiError(404, 'promotion_not_found', `no promotion ${id} of agent ${slug}`);
    return row;
  }

  app.get('/:slug/promotions/:id', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug, id } = parseParams(c, promotionParams);
    return c.json(presentPromotion(slug, await owned(tenantId, slug, id)));
  });

  app.post('/:slug/promotions/:id/approvals', async (c) => {
    const principal = c.get('principal');
    const { slug, id } = parseParams(c, promotionParams);
    const body = await parseBody(c, voteSchema);
    const row = await owned(principal.tenantId, slug, id);
    if (row.status !== 'pending') throw new ApiError(409, 'gate_closed', `promotion ${id} is already ${row.status}`);
    const result = await submitVote(
      { db: deps.db, temporal: deps.temporal, voteKey: voteSigningKey(deps.config) },
      { tenantId: principal.tenantId, sessionId: id },
      { gateId: PROMOTION_GATE_ID, approver: principal.principal, roles: principal.roles, decision: body.decision, channel: 'api', comment: body.comment },
    );
    return c.json(result);
  });

  return app;
}

/**
 * The open promotion gates the caller may approve, shaped like the inbox's
 * session gates (api/inbox-entry.ts) with `kind`, `promotionId` and `agent`;
 * `sessionId` is null and `links.approve` is the promotion's route.
 */
export async function promotionInbox(db: Db, principal: { principal: string; roles: readonly string[]; tenantId: string }, limit = 50) {
  const rows = await listPendingPromotions(db, principal.tenantId, limit);
  return rows.flatMap((row) => {
    const view = promotionGate(row.gate);
    if (!view || view.status !== 'open') return [];
    const entry = inboxEntry(view, principal, {
      sessionId: null,
      toolCallHash: null,
      links: { approve: `/v1/agents/${row.slug}/promotions/${row.id}/approvals`, promotion: `/v1/agents/${row.slug}/promotions/${row.id}` },
      extra: { kind: 'agent_promotion', promotionId: row.id, agent: row.slug },
    });
    return entry.canApprove ? [entry] : [];
  });
}

export const promotionRouteDocs: readonly RouteDoc[] = [
  { method: 'get', path: '/v1/agents/:slug/promotions/:id', operationId: 'getPromotion', summary: 'A promotion and its gate', tag: 'agents', params: promotionParams, responses: { 200: { description: 'the promotion', schema: z.record(z.string(), z.unknown()) }, 404: { description: 'promotion_not_found' } } },
  { method: 'post', path: '/v1/agents/:slug/promotions/:id/approvals', operationId: 'votePromotion', summary: 'Approve or reject a promotion (never the requester)', tag: 'agents', params: promotionParams, body: voteSchema, responses: { 200: { description: 'the vote and the gate', schema: z.record(z.string(), z.unknown()) }, 409: { description: 'gate_closed' } } },
];

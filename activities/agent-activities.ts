/**
 * Activities of the promotion workflow (workflows/agent-promotion.ts): the
 * gate's state and each vote written to Postgres (the inbox and the audit),
 * and the label moved once the gate is approved. Retries are safe: votes are
 * keyed, and a promotion moves its label once.
 */
import type { PromotionStatus } from '../db/agent-tables.js';
import { getPromotion, moveLabel, updatePromotion } from '../db/agents.js';
import { insertApprovalAudit } from '../db/approvals.js';
import type { Db } from '../db/client.js';
import type { ApprovalVote, GateView } from '../workflows/definitions.js';
import { withFailFast } from './permanent-errors.js';

export interface PromotionRef {
  readonly tenantId: string;
  readonly promotionId: string;
}

export function createAgentActivities({ db }: { readonly db: Db }) {
  async function recordPromotionVote(input: PromotionRef & { gate: GateView; vote: ApprovalVote | null; outcome: string; key: string }): Promise<void> {
    await updatePromotion(db, input.tenantId, input.promotionId, { gate: input.gate });
    if (!input.vote) return;
    const { vote } = input;
    await insertApprovalAudit(
      db,
      { tenantId: input.tenantId, sessionId: input.promotionId },
      { gateId: vote.gateId, approver: vote.approver, roles: vote.roles ?? [], channel: vote.channel, decision: vote.decision, outcome: input.outcome, comment: vote.comment },
      input.key,
    );
  }

  async function finishPromotion(input: PromotionRef & { gate: GateView; status: Exclude<PromotionStatus, 'pending'>; approvers: readonly string[] }): Promise<void> {
    const promotion = await getPromotion(db, input.tenantId, input.promotionId);
    if (!promotion) throw new Error(`no promotion ${input.promotionId}`);
    if (promotion.status === 'pending' && input.status === 'approved') {
      const moved = await db
        .selectFrom('agent_label_moves')
        .select('id')
        .where('tenant_id', '=', input.tenantId)
        .where('promotion_id', '=', input.promotionId)
        .executeTakeFirst();
      // A retry after the move was written must not move (and audit) it twice.
      if (!moved) {
        await moveLabel(db, {
          tenantId: input.tenantId,
          agentId: promotion.agent_id,
          label: promotion.label,
          toSha: promotion.to_sha,
          movedBy: promotion.requester,
          why: promotion.why,
          promotionId: promotion.id,
          approvers: input.approvers,
        });
      }
    }
    await updatePromotion(db, input.tenantId, input.promotionId, { gate: input.gate, status: input.status });
  }

  return withFailFast({ recordPromotionVote, finishPromotion });
}

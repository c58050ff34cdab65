/**
 * Activities of the promotion workflow (workflows/agent-promotion.ts): the
 * gate's state and each vote written to Postgres (the inbox and the audit),
 * the label moved once the gate is approved, and the gate's Slack message
 * (posted and updated like a session gate's, slack/gate-message.ts). Retries
 * are safe: votes are keyed, and a promotion moves its label once.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { PromotionStatus } from '../db/agent-tables.js';
import { getPromotion, moveLabel, promotionMovedLabel, updatePromotion } from '../db/agents.js';
import { insertApprovalAudit } from '../db/approvals.js';
import type { Db } from '../db/client.js';
import type { ApprovalVote, GateView } from '../domain/gate.js';
import { SlackApiError, type SlackClient } from '../slack/client.js';
import { renderGateMessage } from '../slack/gate-message.js';
import type { NotifyActivityDeps, PostedMessage } from './notify-activities.js';
import { withFailFast } from './permanent-errors.js';

export interface PromotionRef {
  readonly tenantId: string;
  readonly promotionId: string;
}

export interface AgentActivityDeps {
  readonly db: Db;
  /** Absent when SLACK_BOT_TOKEN is not set: promotion gates are then answered from the API only. */
  readonly slack?: SlackClient | undefined;
  readonly links?: NotifyActivityDeps['links'] | undefined;
}

export function createAgentActivities({ db, slack, links }: AgentActivityDeps) {
  /** The promotion's workflow in the Temporal UI stands where a session gate links its session. */
  function messageOf(channel: string, promotionId: string, gate: GateView) {
    const ui = links?.(promotionId).temporalUi ?? promotionId;
    return renderGateMessage(channel, promotionId, gate, { session: ui, temporalUi: ui });
  }

  async function slackCall<T>(call: (client: SlackClient) => Promise<T>): Promise<T> {
    if (!slack) throw ApplicationFailure.create({ type: 'SlackNotConfigured', message: 'the policy names a Slack channel but SLACK_BOT_TOKEN is not set', nonRetryable: true });
    try {
      return await call(slack);
    } catch (err) {
      if (err instanceof SlackApiError) throw ApplicationFailure.create({ type: 'SlackApiError', message: err.message, nonRetryable: !err.retryable });
      throw err;
    }
  }

  async function postPromotionMessage(input: { promotionId: string; channel: string; gate: GateView }): Promise<PostedMessage> {
    return slackCall((client) => client.postMessage(messageOf(input.channel, input.promotionId, input.gate)));
  }

  async function updatePromotionMessage(input: { promotionId: string; gate: GateView; message: PostedMessage }): Promise<void> {
    await slackCall((client) => client.updateMessage({ ...messageOf(input.message.channel, input.promotionId, input.gate), ts: input.message.ts }));
  }

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
      // A retry after the move was written must not move (and audit) it twice.
      if (!(await promotionMovedLabel(db, input.tenantId, input.promotionId))) {
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

  return withFailFast({ recordPromotionVote, finishPromotion, postPromotionMessage, updatePromotionMessage });
}

/**
 * `agentPromotion`: moving a label (production) to a version whose policy is
 * looser waits on an approval gate, like a risky tool call does: the same gate
 * rules (workflows/gates.ts: N distinct approvers, never the requester) and
 * the same vote path (the `approve` Update with the API's signed proof,
 * workflows/vote-intake.ts). Each change of the gate is written to the
 * promotion's row (the inbox reads it) and, when the version's policy names a
 * Slack channel, to a message there with Approve and Reject buttons; when the
 * gate is approved an activity moves the label and audits the move.
 */
import { allHandlersFinished, condition, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { PostedMessage } from '../activities/notify-activities.js';
import type { AgentActivities } from '../activities/index.js';
import { workflowIso } from './clock.js';
import type { ApprovalResult, ApprovalVote } from './definitions.js';
import type { Gate } from '../domain/gate.js';
import { applyVote, gateView } from './gates.js';
import { installVoteHandlers } from './vote-intake.js';

export const PROMOTION_GATE_ID = 'gate-1';

export interface AgentPromotionInput {
  readonly tenantId: string;
  readonly promotionId: string;
  readonly agentId: string;
  readonly slug: string;
  readonly label: string;
  readonly fromSha: string | null;
  readonly toSha: string;
  readonly requester: string;
  readonly why: string;
  /** What made the move risky, shown to approvers. */
  readonly reasons: readonly string[];
  readonly approvers: number;
  readonly timeoutMs: number;
  /** Where the gate is posted (the target version's policy `approval.slack.channel`); none: the API and inbox only. */
  readonly slackChannel?: string | null | undefined;
}

export interface AgentPromotionResult {
  readonly status: 'approved' | 'rejected' | 'timed_out';
  readonly approvers: readonly string[];
}

export async function agentPromotion(input: AgentPromotionInput): Promise<AgentPromotionResult> {
  const store = proxyActivities<AgentActivities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: '10m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 25 },
  });
  const ref = { tenantId: input.tenantId, promotionId: input.promotionId };
  const gate: Gate = {
    id: PROMOTION_GATE_ID,
    toolCallId: input.promotionId,
    tool: 'agent.promote',
    arguments: { agent: input.slug, label: input.label, from: input.fromSha, to: input.toSha, why: input.why, reasons: [...input.reasons] },
    risk: 'high',
    reason: `promote ${input.slug} ${input.label} to a looser version: ${input.reasons.join('; ')}`,
    ruleId: 'agent-promotion',
    requester: input.requester,
    required: input.approvers,
    roles: [],
    excludedApprovers: [],
    approvals: [],
    status: 'open',
    openedAt: workflowIso(),
    expiresAt: workflowIso(input.timeoutMs),
    slackChannel: input.slackChannel ?? null,
  };
  const gates = new Map([[gate.id, gate]]);
  const slack = proxyActivities<AgentActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8 },
  });
  /** The Slack message follows the gate in the background; changes made while one call is on its way go out in the next. */
  const message = { posted: undefined as PostedMessage | undefined, version: 0, rendered: 0, running: false, failed: false };
  function syncSlack(): void {
    message.version += 1;
    const channel = gate.slackChannel;
    if (!channel || message.running || message.failed) return;
    message.running = true;
    void (async () => {
      while (message.rendered < message.version && !message.failed) {
        const version = message.version;
        try {
          if (!message.posted) message.posted = await slack.postPromotionMessage({ promotionId: input.promotionId, channel, gate: gateView(gate) });
          else await slack.updatePromotionMessage({ promotionId: input.promotionId, gate: gateView(gate), message: message.posted });
          message.rendered = version;
        } catch {
          // Slack being down never blocks the gate: votes still come through the API.
          message.failed = true;
        }
      }
      message.running = false;
    })();
  }
  /** Writes started by vote handlers; all are awaited before the workflow ends. */
  const writes: Promise<void>[] = [];

  installVoteHandlers({
    sessionId: workflowInfo().workflowId,
    gates,
    take(vote: ApprovalVote): ApprovalResult | undefined {
      const target = gates.get(vote.gateId);
      if (!target) return undefined;
      const { counted, closed } = applyVote(target, vote, workflowIso());
      const outcome = counted ? (closed ? 'closed-the-gate' : 'counted') : 'duplicate';
      writes.push(store.recordPromotionVote({ ...ref, gate: gateView(target), vote: { ...vote, proof: undefined }, outcome, key: `vote-${writes.length + 1}` }));
      if (counted) syncSlack();
      return { gate: gateView(target), counted };
    },
    refused(vote: ApprovalVote, code: string) {
      writes.push(store.recordPromotionVote({ ...ref, gate: gateView(gate), vote: { ...vote, proof: undefined }, outcome: `refused:${code}`, key: `vote-${writes.length + 1}` }));
    },
  });

  await store.recordPromotionVote({ ...ref, gate: gateView(gate), vote: null, outcome: 'opened', key: 'opened' });
  syncSlack();
  const decided = await condition(() => gate.status !== 'open', input.timeoutMs);
  if (!decided) gate.status = 'timed_out';
  await Promise.all(writes);
  const status = gate.status === 'approved' ? 'approved' : gate.status === 'rejected' ? 'rejected' : 'timed_out';
  const approvers = gate.approvals.map((a) => a.approver);
  await store.finishPromotion({ ...ref, gate: gateView(gate), status, approvers });
  if (!decided) syncSlack();
  await condition(() => !message.running);
  await condition(allHandlersFinished);
  return { status, approvers };
}

/**
 * The Block Kit message of an approval gate: what the tool call would do, its
 * risk, the policy rule, a link to the session, and Approve / Reject buttons
 * while the gate is open; once closed, who decided and how it ended.
 */
import type { GateView } from '../workflows/definitions.js';
import type { SlackMessage } from './client.js';

/** What a button click carries back to us (Slack echoes `value`). */
export interface GateButtonValue {
  readonly sessionId: string;
  readonly gateId: string;
}

const OUTCOME: Record<GateView['status'], string> = {
  open: ':hourglass_flowing_sand: Waiting for approval',
  approved: ':white_check_mark: Approved',
  rejected: ':no_entry: Rejected',
  timed_out: ':alarm_clock: Timed out (denied)',
  cancelled: ':heavy_multiplication_x: Session cancelled',
};

function code(text: string, max = 2_500): string {
  const clipped = text.length > max ? `${text.slice(0, max)}…` : text;
  return `\`\`\`${clipped.replaceAll('```', "'''")}\`\`\``;
}

export function renderGateMessage(channel: string, sessionId: string, gate: GateView, links: { session: string; temporalUi: string }): SlackMessage {
  const who = gate.approvals.map((a) => `${a.approver}${a.roles.length ? ` (${a.roles.join(', ')})` : ''} via ${a.channel}`).join(', ') || 'nobody yet';
  const needs = `${gate.required} approver${gate.required === 1 ? '' : 's'}${gate.roles.length ? `, roles: ${gate.roles.join(' + ')}` : ''}`;
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: `Approval needed: ${gate.tool} (${gate.risk} risk)` } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Requested by*\n${gate.requester}` },
        { type: 'mrkdwn', text: `*Policy rule*\n${gate.ruleId}: ${gate.reason}` },
        { type: 'mrkdwn', text: `*Needs*\n${needs}` },
        { type: 'mrkdwn', text: `*Expires*\n${gate.expiresAt}` },
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*Arguments*\n${code(JSON.stringify(gate.arguments, null, 2))}` } },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Session <${links.session}|${sessionId}> · <${links.temporalUi}|Temporal> · gate ${gate.id}` }],
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${OUTCOME[gate.status]}*${gate.rejectedBy ? ` by ${gate.rejectedBy}` : ''} — approvals: ${who} (${gate.approvals.length}/${gate.required})${gate.missingRoles.length && gate.status === 'open' ? `; still needs ${gate.missingRoles.join(', ')}` : ''}`,
      },
    },
  ];
  if (gate.status === 'open') {
    const value = JSON.stringify({ sessionId, gateId: gate.id } satisfies GateButtonValue);
    blocks.push({
      type: 'actions',
      block_id: `gate:${gate.id}`,
      elements: [
        { type: 'button', action_id: 'approve', style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value },
        { type: 'button', action_id: 'reject', style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value },
      ],
    });
  }
  return { channel, text: `${OUTCOME[gate.status]}: ${gate.tool} in session ${sessionId}`, blocks };
}

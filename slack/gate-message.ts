/**
 * The Block Kit message of an approval gate: what the tool call would do, its
 * risk, the policy rule, a link to the session, and Approve / Reject buttons
 * while the gate is open; once closed, who decided and how it ended.
 */
import { approvalDisplay, type ApprovalDisplay } from '../policies/approval-display.js';
import type { GateView } from '../domain/gate.js';
import type { SlackFile, SlackMessage } from './client.js';

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

/** Slack reads `&`, `<` and `>` in mrkdwn as entities and links, code blocks included. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A section's text is at most 3,000 characters; this leaves room for the fences. */
const CHUNK_CHARS = 2_900;
/** Up to this many code sections inline (a 16 KiB command fits); beyond, the text goes in a file. */
export const MAX_INLINE_CHUNKS = 6;

/**
 * The safe rendering cut into code sections, never inside a `<U+XXXX>` mark or
 * an entity. A run of three backticks would close the block: its middle one
 * is shown as <U+0060>.
 */
export function codeChunks(safe: string): string[] {
  const tokens = safe.replaceAll('```', '`<U+0060>`').match(/<U\+[0-9A-F]{4,6}>|[\s\S]/gu) ?? [];
  const chunks: string[] = [];
  let current = '';
  for (const token of tokens) {
    const escaped = escapeMrkdwn(token);
    if (current.length + escaped.length > CHUNK_CHARS) {
      chunks.push(current);
      current = '';
    }
    current += escaped;
  }
  if (current || chunks.length === 0) chunks.push(current);
  return chunks.map((c) => `\`\`\`${c}\`\`\``);
}

/** The blocks showing what is approved, and the file holding it when it is too long to show inline. */
function subjectBlocks(gate: GateView, display: ApprovalDisplay): { blocks: unknown[]; file?: SlackFile } {
  const what = gate.tool === 'shell' ? 'Command' : 'Arguments';
  const flags = display.flags.length
    ? `\n:warning: contains ${display.flags.map((f) => f.replace('_', '-')).join(', ')} characters; hidden ones are shown as <U+XXXX>`
    : '';
  const chunks = codeChunks(display.safe);
  const inline = chunks.length <= MAX_INLINE_CHUNKS;
  const where = inline ? '' : `\nToo long to show here: the whole text is in the file ${gate.id}.txt posted to this channel with this message; its first part is below.`;
  const head = `*${what}* · ${display.bytes} bytes · sha256 \`${display.sha256}\`${escapeMrkdwn(flags)}${where}`;
  const shown = inline ? chunks : chunks.slice(0, 1);
  const blocks = [head, ...shown].map((text) => ({ type: 'section', text: { type: 'mrkdwn', text } }));
  if (inline) return { blocks };
  return {
    blocks,
    file: { filename: `${gate.id}.txt`, title: `${what} of gate ${gate.id} (sha256 ${display.sha256})`, content: display.safe },
  };
}

export function renderGateMessage(channel: string, sessionId: string, gate: GateView, links: { session: string; temporalUi: string }): SlackMessage {
  const who = escapeMrkdwn(gate.approvals.map((a) => `${a.approver}${a.roles.length ? ` (${a.roles.join(', ')})` : ''} via ${a.channel}`).join(', ') || 'nobody yet');
  const subject = subjectBlocks(gate, approvalDisplay(gate.tool, gate.arguments));
  const needs = `${gate.required} approver${gate.required === 1 ? '' : 's'}${gate.roles.length ? `, roles: ${gate.roles.join(' + ')}` : ''}`;
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: `Approval needed: ${gate.tool} (${gate.risk} risk)` } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Requested by*\n${escapeMrkdwn(gate.requester)}` },
        { type: 'mrkdwn', text: `*Policy rule*\n${escapeMrkdwn(`${gate.ruleId}: ${gate.reason}`)}` },
        { type: 'mrkdwn', text: `*Needs*\n${needs}` },
        { type: 'mrkdwn', text: `*Expires*\n${gate.expiresAt}` },
      ],
    },
    ...subject.blocks,
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Session <${links.session}|${sessionId}> · <${links.temporalUi}|Temporal> · gate ${gate.id}` }],
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${OUTCOME[gate.status]}*${gate.rejectedBy ? ` by ${escapeMrkdwn(gate.rejectedBy)}` : ''} — approvals: ${who} (${gate.approvals.length}/${gate.required})${gate.missingRoles.length && gate.status === 'open' ? `; still needs ${gate.missingRoles.join(', ')}` : ''}`,
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
  return { channel, text: `${OUTCOME[gate.status]}: ${gate.tool} in session ${sessionId}`, blocks, ...(subject.file ? { files: [subject.file] } : {}) };
}

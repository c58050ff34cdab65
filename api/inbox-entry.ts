/**
 * One entry of the approvals inbox (GET /v1/approvals): the gate, what the
 * approver is shown (policies/approval-display.ts), whether the caller may
 * approve it and why not, and where to answer it. Session gates and agent
 * promotion gates are shown the same way.
 */
import { approvalDisplay } from '../policies/approval-display.js';
import type { GateState } from '../domain/gate.js';
import { voteProblem } from '../workflows/gates.js';

export interface InboxWhere {
  readonly sessionId: string | null;
  readonly toolCallHash: string | null;
  /** `approve`: where a vote on this gate is sent. */
  readonly links: { readonly approve: string; readonly [name: string]: string };
  /** Extra fields of the entry (a promotion's `kind`, `promotionId`, `agent`). */
  readonly extra?: Record<string, unknown>;
}

export function inboxEntry(gate: GateState, principal: { readonly principal: string; readonly roles: readonly string[] }, where: InboxWhere) {
  const problem =
    gate.status === 'open' ? voteProblem(gate, { gateId: gate.id, approver: principal.principal, roles: principal.roles, decision: 'approve', channel: 'api' }, gate.id) : undefined;
  const alreadyApproved = gate.approvals.some((a) => a.approver === principal.principal);
  const shown = approvalDisplay(gate.tool, gate.arguments);
  return {
    ...where.extra,
    sessionId: where.sessionId,
    gateId: gate.id,
    tool: gate.tool,
    arguments: gate.arguments,
    display: { text: shown.safe, sha256: shown.sha256, bytes: shown.bytes, flags: shown.flags },
    toolCallHash: where.toolCallHash,
    risk: gate.risk,
    reason: gate.reason,
    ruleId: gate.ruleId,
    requester: gate.requester,
    required: gate.required,
    roles: gate.roles,
    approvals: gate.approvals,
    status: gate.status,
    rejectedBy: gate.rejectedBy ?? null,
    openedAt: gate.openedAt,
    expiresAt: gate.expiresAt,
    canApprove: gate.status === 'open' && !problem && !alreadyApproved,
    cannotApproveBecause: problem?.code ?? (alreadyApproved ? 'already_approved' : null),
    links: where.links,
  };
}

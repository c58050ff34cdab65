/**
 * Approval gates as plain state: N distinct approvers, never the requester,
 * duplicates ignored, one reject closes the gate. Pure functions, used by the
 * workflow's signal and update handlers.
 */
import type { ApprovalVote, GateView } from './definitions.js';

export type Gate = {
  -readonly [K in keyof GateView]: GateView[K];
} & { approvals: { approver: string; channel: string; at: string }[] };

/** Why a vote cannot be taken, or undefined when it can (a duplicate can: it is ignored). */
export function voteProblem(gate: Gate | undefined, vote: ApprovalVote, gateId: string): { code: string; message: string } | undefined {
  if (!gate) return { code: 'gate_not_found', message: `no approval gate ${gateId} in this session` };
  if (gate.status !== 'open') return { code: 'gate_closed', message: `gate ${gate.id} is already ${gate.status}` };
  if (vote.approver === gate.requester) {
    return { code: 'requester_cannot_approve', message: `${vote.approver} requested this session and cannot decide its gates` };
  }
  if (vote.approver.trim() === '') return { code: 'approver_required', message: 'an approver identity is required' };
  return undefined;
}

/**
 * Applies a vote to an open gate. Returns whether it counted (a repeated
 * approval by the same person does not) and whether it closed the gate.
 */
export function applyVote(gate: Gate, vote: ApprovalVote, at: string): { counted: boolean; closed: boolean } {
  if (voteProblem(gate, vote, gate.id)) return { counted: false, closed: false };
  if (vote.decision === 'reject') {
    gate.status = 'rejected';
    gate.rejectedBy = vote.approver;
    return { counted: true, closed: true };
  }
  if (gate.approvals.some((a) => a.approver === vote.approver)) return { counted: false, closed: false };
  gate.approvals.push({ approver: vote.approver, channel: vote.channel, at });
  if (gate.approvals.length >= gate.required) {
    gate.status = 'approved';
    return { counted: true, closed: true };
  }
  return { counted: true, closed: false };
}

/** A copy safe to hand out from a query or update. */
export function gateView(gate: Gate): GateView {
  return {
    ...gate,
    arguments: JSON.parse(JSON.stringify(gate.arguments)) as GateView['arguments'],
    approvals: gate.approvals.map((a) => ({ ...a })),
  };
}

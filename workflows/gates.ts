/**
 * Approval gates as plain state: N distinct approvers, one per required role
 * (`[admin, security]` needs an admin and a security approver, two people),
 * never the requester nor an excluded principal; duplicates ignored; one
 * reject closes the gate. Pure functions, used by the workflow's handlers.
 */
import type { ApprovalVote, Gate, GateState, GateView } from '../domain/gate.js';

export type { Gate } from '../domain/gate.js';

export interface VoteProblem {
  readonly code: string;
  readonly message: string;
}

/**
 * The largest number of required roles that distinct approvers can cover
 * (bipartite matching by augmenting paths; both sides are small).
 */
export function coveredRoles(required: readonly string[], approvers: readonly { roles: readonly string[] }[]): number {
  const holder: (number | undefined)[] = required.map(() => undefined);
  const tryAssign = (approver: number, seen: Set<number>): boolean => {
    for (let r = 0; r < required.length; r++) {
      if (seen.has(r) || !approvers[approver]?.roles.includes(required[r] as string)) continue;
      seen.add(r);
      const current = holder[r];
      if (current === undefined || tryAssign(current, seen)) {
        holder[r] = approver;
        return true;
      }
    }
    return false;
  };
  let covered = 0;
  for (let a = 0; a < approvers.length; a++) if (tryAssign(a, new Set())) covered++;
  return covered;
}

/**
 * How many more approvers the gate needs at least: each new approver adds one
 * to the count and covers at most one more role.
 */
export function approversStillNeeded(gate: Pick<GateState, 'required' | 'roles'>, approvals: readonly { roles: readonly string[] }[]): number {
  return Math.max(gate.required - approvals.length, gate.roles.length - coveredRoles(gate.roles, approvals), 0);
}

/** True when the approvals meet both the count and the roles. */
export function gateSatisfied(gate: Pick<GateState, 'required' | 'roles' | 'approvals'>): boolean {
  return gate.approvals.length >= gate.required && coveredRoles(gate.roles, gate.approvals) === gate.roles.length;
}

/** Roles still without an approver (for messages and the inbox). */
export function missingRoles(gate: Pick<GateState, 'roles' | 'approvals'>): string[] {
  const missing: string[] = [];
  for (let i = 0; i < gate.roles.length; i++) {
    const without = gate.roles.filter((_, j) => j !== i);
    if (coveredRoles(without, gate.approvals) + 1 > coveredRoles(gate.roles, gate.approvals)) missing.push(gate.roles[i] as string);
  }
  return missing;
}

/**
 * Why a vote cannot be taken, or undefined when it can. A repeated approval
 * can (it is ignored); an approval that cannot bring the gate closer (it
 * lowers neither the count still missing nor the roles still uncovered) cannot.
 */
export function voteProblem(gate: GateState | undefined, vote: ApprovalVote, gateId: string): VoteProblem | undefined {
  if (!gate) return { code: 'gate_not_found', message: `no approval gate ${gateId} in this session` };
  if (gate.status !== 'open') return { code: 'gate_closed', message: `gate ${gate.id} is already ${gate.status}` };
  if (vote.approver.trim() === '') return { code: 'approver_required', message: 'an approver identity is required' };
  if (vote.approver === gate.requester) {
    return { code: 'requester_cannot_approve', message: `${vote.approver} requested this session and cannot decide its gates` };
  }
  if (gate.excludedApprovers.includes(vote.approver)) {
    return { code: 'approver_excluded', message: `the policy does not let ${vote.approver} decide this gate` };
  }
  if (vote.decision === 'approve' && !gate.approvals.some((a) => a.approver === vote.approver)) {
    const roles = vote.roles ?? [];
    if (approversStillNeeded(gate, [...gate.approvals, { roles }]) >= approversStillNeeded(gate, gate.approvals)) {
      return {
        code: 'role_required',
        message: `gate ${gate.id} still needs an approver with role ${missingRoles(gate).join(' or ')}; ${vote.approver} has ${roles.length > 0 ? roles.join(', ') : 'no roles'}`,
      };
    }
  }
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
  gate.approvals.push({ approver: vote.approver, roles: [...(vote.roles ?? [])], channel: vote.channel, at });
  if (gateSatisfied(gate)) {
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
    roles: [...gate.roles],
    excludedApprovers: [...gate.excludedApprovers],
    approvals: gate.approvals.map((a) => ({ ...a, roles: [...a.roles] })),
    missingRoles: missingRoles(gate),
  };
}

/**
 * Approval gates: N distinct approvers, never the requester, duplicates
 * ignored, one reject closes the gate; closed and unknown gates refuse votes.
 */
import { describe, expect, it } from 'vitest';
import type { ApprovalVote } from '../../workflows/definitions.js';
import { applyVote, coveredRoles, gateView, voteProblem, type Gate } from '../../workflows/gates.js';

const AT = '2025-01-01T00:00:00.000Z';

function openGate(required = 2): Gate {
  return {
    id: 'gate-1',
    toolCallId: 'call_0_0',
    tool: 'shell',
    arguments: { command: 'rm -rf build' },
    risk: 'high',
    reason: 'destructive or network command',
    ruleId: 'shell-destructive-or-network',
    requester: 'alice',
    required,
    roles: [],
    excludedApprovers: [],
    approvals: [],
    status: 'open',
    openedAt: AT,
    expiresAt: '2025-01-01T00:30:00.000Z',
    slackChannel: null,
  };
}

function vote(approver: string, decision: ApprovalVote['decision'] = 'approve'): ApprovalVote {
  return { gateId: 'gate-1', approver, decision, channel: 'api' };
}

describe('applyVote', () => {
  it('closes a 2-of-2 gate as approved after two distinct approvers', () => {
    const gate = openGate(2);
    expect(applyVote(gate, vote('bob'), AT)).toEqual({ counted: true, closed: false });
    expect(gate.status).toBe('open');
    expect(applyVote(gate, { ...vote('carol'), channel: 'slack' }, '2025-01-01T00:01:00.000Z')).toEqual({
      counted: true,
      closed: true,
    });
    expect(gate.status).toBe('approved');
    expect(gate.approvals).toEqual([
      { approver: 'bob', roles: [], channel: 'api', at: AT },
      { approver: 'carol', roles: [], channel: 'slack', at: '2025-01-01T00:01:00.000Z' },
    ]);
  });

  it('does not count the requester', () => {
    const gate = openGate(1);
    expect(applyVote(gate, vote('alice'), AT)).toEqual({ counted: false, closed: false });
    expect(gate.approvals).toEqual([]);
    expect(gate.status).toBe('open');
  });

  it('does not let the requester reject either', () => {
    const gate = openGate(2);
    expect(applyVote(gate, vote('alice', 'reject'), AT)).toEqual({ counted: false, closed: false });
    expect(gate.status).toBe('open');
    expect(gate.rejectedBy).toBeUndefined();
  });

  it('ignores a repeated approval by the same approver', () => {
    const gate = openGate(2);
    applyVote(gate, vote('bob'), AT);
    expect(applyVote(gate, vote('bob'), AT)).toEqual({ counted: false, closed: false });
    expect(gate.approvals).toHaveLength(1);
    expect(gate.status).toBe('open');
  });

  it('closes the gate as rejected on one reject, even after approvals', () => {
    const gate = openGate(2);
    applyVote(gate, vote('bob'), AT);
    expect(applyVote(gate, vote('carol', 'reject'), AT)).toEqual({ counted: true, closed: true });
    expect(gate.status).toBe('rejected');
    expect(gate.rejectedBy).toBe('carol');
  });

  it('lets an approver change their mind to reject', () => {
    const gate = openGate(2);
    applyVote(gate, vote('bob'), AT);
    expect(applyVote(gate, vote('bob', 'reject'), AT)).toEqual({ counted: true, closed: true });
    expect(gate).toMatchObject({ status: 'rejected', rejectedBy: 'bob' });
  });

  it('changes nothing once the gate is closed', () => {
    const gate = openGate(1);
    applyVote(gate, vote('bob'), AT);
    expect(applyVote(gate, vote('carol', 'reject'), AT)).toEqual({ counted: false, closed: false });
    expect(gate.status).toBe('approved');
    expect(gate.rejectedBy).toBeUndefined();
    expect(gate.approvals.map((a) => a.approver)).toEqual(['bob']);
  });
});

describe('voteProblem', () => {
  it('accepts a vote by someone other than the requester on an open gate', () => {
    expect(voteProblem(openGate(), vote('bob'), 'gate-1')).toBeUndefined();
  });

  it('accepts a duplicate approval (applyVote ignores it)', () => {
    const gate = openGate(2);
    applyVote(gate, vote('bob'), AT);
    expect(voteProblem(gate, vote('bob'), 'gate-1')).toBeUndefined();
  });

  it('refuses the requester', () => {
    expect(voteProblem(openGate(), vote('alice'), 'gate-1')).toEqual({
      code: 'requester_cannot_approve',
      message: 'alice requested this session and cannot decide its gates',
    });
  });

  it('refuses a vote on a closed gate, naming its status', () => {
    const gate = openGate(1);
    applyVote(gate, vote('bob', 'reject'), AT);
    expect(voteProblem(gate, vote('carol'), 'gate-1')).toEqual({ code: 'gate_closed', message: 'gate gate-1 is already rejected' });
  });

  it('refuses a vote on an unknown gate', () => {
    expect(voteProblem(undefined, vote('bob'), 'gate-9')).toEqual({
      code: 'gate_not_found',
      message: 'no approval gate gate-9 in this session',
    });
  });

  it('refuses a blank approver', () => {
    expect(voteProblem(openGate(), vote('  '), 'gate-1')?.code).toBe('approver_required');
    const gate = openGate(1);
    expect(applyVote(gate, vote(''), AT)).toEqual({ counted: false, closed: false });
    expect(gate.status).toBe('open');
  });
});

describe('gateView', () => {
  it('returns an equal copy that does not share status or approvals with the gate', () => {
    const gate = openGate(2);
    applyVote(gate, vote('bob'), AT);
    const view = gateView(gate);
    expect(view).toEqual({ ...gate, missingRoles: [] });
    expect(view).not.toBe(gate);

    const mutable = view as unknown as Gate;
    mutable.status = 'approved';
    mutable.approvals.push({ approver: 'mallory', roles: [], channel: 'api', at: AT });
    mutable.approvals[0]!.approver = 'mallory';

    expect(gate.status).toBe('open');
    expect(gate.approvals).toEqual([{ approver: 'bob', roles: [], channel: 'api', at: AT }]);
  });
});

describe('roles', () => {
  function roleGate(roles: string[], required = roles.length): Gate {
    return { ...openGate(required), roles };
  }
  const withRoles = (approver: string, roles: string[]): ApprovalVote => ({ ...vote(approver), roles });

  it('needs one distinct approver per required role', () => {
    const gate = roleGate(['admin', 'security']);
    expect(applyVote(gate, withRoles('bob', ['admin']), AT)).toEqual({ counted: true, closed: false });
    expect(gateView(gate).missingRoles).toEqual(['security']);
    // Another admin cannot help: the count is met by the roles, and security is missing.
    expect(voteProblem(gate, withRoles('dave', ['admin']), gate.id)).toMatchObject({ code: 'role_required' });
    expect(applyVote(gate, withRoles('dave', ['admin']), AT)).toEqual({ counted: false, closed: false });
    expect(applyVote(gate, withRoles('carol', ['security']), AT)).toEqual({ counted: true, closed: true });
    expect(gate.status).toBe('approved');
  });

  it('does not let one person with both roles fill two places', () => {
    const gate = roleGate(['admin', 'security']);
    expect(applyVote(gate, withRoles('erin', ['admin', 'security']), AT)).toEqual({ counted: true, closed: false });
    expect(gate.status).toBe('open');
    expect(applyVote(gate, withRoles('bob', ['admin']), AT)).toEqual({ counted: true, closed: true });
  });

  it('matches approvers to roles, whatever the order they arrive in', () => {
    // erin holds both roles and votes first; a later security approver still completes the gate.
    const gate = roleGate(['admin', 'security']);
    applyVote(gate, withRoles('erin', ['admin', 'security']), AT);
    expect(applyVote(gate, withRoles('carol', ['security']), AT)).toEqual({ counted: true, closed: true });
  });

  it('counts approvers without the role while the count is not met', () => {
    const gate = roleGate(['security'], 3);
    expect(applyVote(gate, withRoles('bob', []), AT).counted).toBe(true);
    expect(applyVote(gate, withRoles('dave', []), AT).counted).toBe(true);
    expect(gate.status).toBe('open');
    expect(voteProblem(gate, withRoles('frank', []), gate.id)).toMatchObject({ code: 'role_required' });
    expect(applyVote(gate, withRoles('carol', ['security']), AT)).toEqual({ counted: true, closed: true });
  });

  it('refuses an excluded approver, and anyone eligible may reject', () => {
    const gate = { ...roleGate(['security']), excludedApprovers: ['dave'] };
    expect(voteProblem(gate, withRoles('dave', ['security']), gate.id)).toMatchObject({ code: 'approver_excluded' });
    expect(applyVote(gate, { ...vote('bob', 'reject') }, AT)).toEqual({ counted: true, closed: true });
    expect(gate.status).toBe('rejected');
  });

  it('coveredRoles finds the largest assignment', () => {
    expect(coveredRoles(['a', 'b', 'c'], [{ roles: ['a', 'b'] }, { roles: ['a'] }, { roles: ['c', 'b'] }])).toBe(3);
    expect(coveredRoles(['a', 'a'], [{ roles: ['a'] }])).toBe(1);
    expect(coveredRoles([], [{ roles: ['a'] }])).toBe(0);
  });
});

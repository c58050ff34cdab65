/** An open gate as the workflow shows it (Slack message and inbox tests), with the fields a test cares about overridden. */
import type { GateView } from '../../workflows/definitions.js';

export function gateView(overrides: Partial<GateView> = {}): GateView {
  return {
    id: 'gate-3',
    toolCallId: 'call_0_0',
    tool: 'shell',
    arguments: { command: 'rm -rf /workspace/.cache' },
    risk: 'high',
    reason: 'destructive or network command',
    ruleId: 'shell-destructive-or-network',
    requester: 'alice',
    required: 2,
    roles: [],
    excludedApprovers: [],
    approvals: [],
    missingRoles: [],
    status: 'open',
    openedAt: '2026-01-01T00:00:00Z',
    expiresAt: '2026-01-01T00:30:00Z',
    slackChannel: '#approvals',
    ...overrides,
  };
}

/**
 * A gate's Slack message, outside Temporal: CancellationScope, patched() and
 * the notifier's activities stand in for the workflow runtime. The race it
 * must survive (seen in CI: an approved gate whose message kept its
 * buttons): a vote that changes the gate in the same activation in which the
 * previous message update resolves. A change at any microtask between the
 * sync's last look at the gate and its end must still reach the message.
 */
import { describe, expect, it, vi } from 'vitest';
import type { Gate, GateView } from '../../domain/gate.js';
import { gateView } from '../support/gate-view.js';

const patches: string[] = [];
const updates: GateView['status'][] = [];
let releaseUpdate: (() => void) | undefined;
vi.mock('@temporalio/workflow', () => ({
  CancellationScope: { nonCancellable: <T>(fn: () => Promise<T>) => fn() },
  patched: (id: string) => {
    patches.push(id);
    return true;
  },
  proxyActivities: () => ({
    postGateMessage: async () => ({ channel: 'C1', ts: '1.0' }),
    // Held until the test lets it go, so a vote can land while it is on its way.
    updateGateMessage: (input: { gate: GateView }) =>
      new Promise<void>((resolve) => {
        releaseUpdate = () => {
          updates.push(input.gate.status);
          resolve();
        };
      }),
  }),
}));

const { GateSlackSync, GATE_SLACK_RESYNC_PATCH } = await import('../../workflows/gate-slack.js');

const session = { sessionId: 'ses_1', tenantId: 't1', createdAt: '2026-12-02T00:00:00.000Z' };
const outbox = { flush: async () => {}, push: () => {} };

/** The shared open gate, as the workflow holds it (no derived fields), posted to a channel. */
function gate(): Gate {
  const { missingRoles: _derived, ...state } = gateView({ slackChannel: '#approvals' });
  return { ...state, roles: [...state.roles], excludedApprovers: [...state.excludedApprovers], approvals: [], arguments: { ...state.arguments } };
}

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await null;
}

/** Posts, changes the gate once (an update goes out), then approves it `k` microtasks after that update returns. */
async function approveLate(k: number): Promise<InstanceType<typeof GateSlackSync>> {
  updates.length = 0;
  releaseUpdate = undefined;
  const g = gate();
  const sync = new GateSlackSync(session, outbox as never);
  sync.open(g);
  await vi.waitFor(() => expect(sync.idle).toBe(true));
  g.approvals.push({ approver: 'bob', roles: [], channel: 'api', at: g.openedAt });
  sync.changed(g);
  await vi.waitFor(() => expect(releaseUpdate).toBeDefined());
  const first = releaseUpdate!;
  releaseUpdate = undefined;
  first();
  await ticks(k);
  g.status = 'approved';
  sync.changed(g);
  // Every update still outstanding is let go until the sync is idle.
  for (let i = 0; i < 100 && !sync.idle; i++) {
    if (releaseUpdate) {
      const next: () => void = releaseUpdate;
      releaseUpdate = undefined;
      next();
    }
    await ticks(1);
  }
  return sync;
}

describe('GateSlackSync', () => {
  it('the message shows the last state of its gate whatever microtask the last vote lands on', async () => {
    for (let k = 0; k <= 12; k++) {
      const sync = await approveLate(k);
      expect(sync.idle, `approved ${k} microtasks after the update returned`).toBe(true);
      expect(updates.at(-1), `approved ${k} microtasks after the update returned`).toBe('approved');
    }
  });

  it('asks for the resync only when a change was left behind (no marker in ordinary histories)', async () => {
    patches.length = 0;
    const g = gate();
    const sync = new GateSlackSync(session, outbox as never);
    sync.open(g);
    await vi.waitFor(() => expect(sync.idle).toBe(true));
    expect(patches).toEqual([]);
    let hit = false;
    for (let k = 0; k <= 12 && !hit; k++) {
      await approveLate(k);
      hit = patches.includes(GATE_SLACK_RESYNC_PATCH);
    }
    expect(hit).toBe(true);
  });
});

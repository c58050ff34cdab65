/**
 * The workflow's event outbox, outside Temporal: CancellationScope and
 * patched() stand in for the workflow runtime. The race it must survive: an
 * event pushed in the same activation in which the previous write resolves
 * (after a worker crash, Temporal delivers both at once). A push in any
 * microtask between the drain's last look at the queue and its end must
 * still be written before flush() returns.
 */
import { describe, expect, it, vi } from 'vitest';

const patches: string[] = [];
vi.mock('@temporalio/workflow', () => ({
  CancellationScope: { nonCancellable: <T>(fn: () => Promise<T>) => fn() },
  patched: (id: string) => {
    patches.push(id);
    return true;
  },
}));

const { EventOutbox, OUTBOX_REDRAIN_PATCH } = await import('../../workflows/outbox.js');

const session = { sessionId: 'ses_1', tenantId: 't1', createdAt: '2026-11-26T00:00:00.000Z' };

function recorder() {
  const written: string[] = [];
  const record = async (input: { events: readonly { key: string; type: string }[] }) => {
    written.push(...input.events.map((e) => e.type));
  };
  return { written, record };
}

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await null;
}

describe('EventOutbox', () => {
  it('writes events in order, each under the next key, and flush waits for them', async () => {
    const seen: string[] = [];
    const outbox = new EventOutbox(session, 7, async (input) => {
      seen.push(...input.events.map((e) => `${e.key}=${e.type}`));
    });
    outbox.push('tool.decision', {});
    outbox.push('approval.vote', {});
    await outbox.flush();
    expect(seen).toEqual(['wf:7=tool.decision', 'wf:8=approval.vote']);
    expect(outbox.counter).toBe(9);
  });

  it('an event pushed at any microtask while the previous write ends is written before flush() returns', async () => {
    for (let k = 0; k <= 12; k++) {
      patches.length = 0;
      const { written, record } = recorder();
      const outbox = new EventOutbox(session, 0, record);
      outbox.push('tool.decision', {});
      await ticks(k);
      outbox.push('sandbox.lost', {});
      await outbox.flush();
      expect(written, `pushed ${k} microtasks after the first`).toEqual(['tool.decision', 'sandbox.lost']);
    }
  });

  it('asks for the re-drain only when something is left behind (no marker in ordinary histories)', async () => {
    patches.length = 0;
    const { record } = recorder();
    const outbox = new EventOutbox(session, 0, record);
    outbox.push('tool.decision', {});
    await outbox.flush();
    expect(patches).toEqual([]);
    // The late push: some microtask offset hits the gap and takes the patched branch.
    let hit = false;
    for (let k = 0; k <= 12 && !hit; k++) {
      const o = new EventOutbox(session, 0, recorder().record);
      o.push('tool.decision', {});
      await ticks(k);
      o.push('sandbox.lost', {});
      await o.flush();
      hit = patches.includes(OUTBOX_REDRAIN_PATCH);
    }
    expect(hit).toBe(true);
  });
});

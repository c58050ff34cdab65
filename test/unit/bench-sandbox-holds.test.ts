/**
 * The throughput bench's view of the sandbox pool (bench/sandbox-holds.ts):
 * one session's claim, hold and release read from a recorded history, and the
 * load's utilisation, hand-offs and most holders at once from made-up holds.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { sessionHold, summariseHolds } from '../../bench/sandbox-holds.js';
import { activityRuns } from '../../bench/step-phases.js';

describe('sessionHold', () => {
  it('reads the claim, the last tool and the release from a history', () => {
    const history = historyFromJSON(JSON.parse(readFileSync(resolve(REPO_ROOT, 'test/histories/current/max-steps.json'), 'utf8')));
    const runs = activityRuns(history.events ?? []);
    const hold = sessionHold(runs);
    const claim = runs.find((r) => r.name === 'claimSandbox');
    const tools = runs.filter((r) => r.name === 'execTool');
    const release = runs.find((r) => r.name === 'releaseSandbox');
    expect(hold).toEqual({
      claimScheduled: claim?.scheduled,
      claimed: claim?.completed,
      lastTool: tools.at(-1)?.completed,
      releaseScheduled: release?.scheduled,
      released: release?.completed,
    });
    expect(hold && hold.released > hold.lastTool && hold.lastTool > hold.claimed).toBe(true);
  });

  it('is undefined for a session that never claimed', () => {
    expect(sessionHold([{ name: 'llmStep', taskQueue: 'q', scheduled: 0, started: 1, completed: 2, next: undefined }])).toBeUndefined();
  });
});

describe('summariseHolds', () => {
  const hold = (claimScheduled: number, claimed: number, released: number) => ({ claimScheduled, claimed, lastTool: released - 100, releaseScheduled: released - 50, released });

  it('counts utilisation over the span, the most holders at once and the hand-offs of claims that waited', () => {
    // Pool of 2: A and B hold at once; C waits from 0 until A's release at 3000 is handed to it 400 ms later.
    const s = summariseHolds([hold(0, 10, 3_000), hold(0, 20, 2_010), hold(0, 3_400, 5_010)], 2);
    expect(s.maxHolding).toBe(2);
    expect(s.handoffMs.n).toBe(1);
    expect(s.handoffMs.p50).toBe(400);
    // Held 2990 + 1990 + 1610 = 6590 ms of 2 × (5010 − 10) = 10000.
    expect(s.utilisation).toBe(0.659);
    expect(s.claimWaitMs.max).toBe(3_400);
    expect(s.afterLastToolMs.p50).toBe(100);
    expect(s.releaseMs.p50).toBe(50);
  });

  it('does not count a slot handed over in the same millisecond as two holders', () => {
    expect(summariseHolds([hold(0, 0, 1_000), hold(0, 1_000, 2_000)], 1).maxHolding).toBe(1);
  });
});

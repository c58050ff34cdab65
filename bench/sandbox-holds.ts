/**
 * How the load used the sandbox pool (issue 16), from each session's history:
 * when a pool of `maxTotal` caps the sessions that run tools, the throughput is
 * the pool's slots over how long each session holds one. Per session: the
 * claim's wait (scheduled → completed), the hold (claim completed → release
 * completed), what of the hold came after the last tool (the final model call
 * and the end), the release itself; over the load: the pool's utilisation
 * (the sum of holds over maxTotal × the span from the first claim to the last
 * release) and the hand-off (a claim that waited, from the release just before
 * it to its own completion: what it costs to give a slot to the next session).
 */
import type { Client } from '@temporalio/client';
import { activityRuns, type ActivityRun } from './step-phases.js';
import { percentiles, type Summary } from './stats.js';

export interface SandboxHolds {
  claimWaitMs: Summary;
  holdMs: Summary;
  /** Of the hold: from the last tool's completion to the release's completion. */
  afterLastToolMs: Summary;
  releaseMs: Summary;
  /** Claims that waited over 1 s: from the latest release completed before them to their completion. */
  handoffMs: Summary;
  /** Σ holds / (maxTotal × first claim → last release), 0–1. */
  utilisation: number;
  /** Most sessions holding a sandbox at once (by the histories' times). */
  maxHolding: number;
}

/** One session's sandbox times from its activity runs; undefined when it never claimed or never released. */
export function sessionHold(runs: readonly ActivityRun[]) {
  const claim = runs.find((r) => r.name === 'claimSandbox');
  const release = runs.findLast((r) => r.name === 'releaseSandbox');
  if (!claim || !release) return undefined;
  const lastTool = runs.findLast((r) => r.name === 'execTool' && r.completed <= release.scheduled);
  return {
    claimScheduled: claim.scheduled,
    claimed: claim.completed,
    lastTool: lastTool?.completed ?? claim.completed,
    releaseScheduled: release.scheduled,
    released: release.completed,
  };
}

type Hold = NonNullable<ReturnType<typeof sessionHold>>;

/** The load's summary from every session's hold (pure: unit-tested). */
export function summariseHolds(holds: readonly Hold[], maxTotal: number): SandboxHolds {
  const releases = holds.map((h) => h.released).sort((a, b) => a - b);
  const handoffs: number[] = [];
  for (const h of holds) {
    if (h.claimed - h.claimScheduled < 1_000) continue;
    const before = releases.filter((t) => t <= h.claimed).at(-1);
    if (before !== undefined && before >= h.claimScheduled) handoffs.push(h.claimed - before);
  }
  const edges = holds.flatMap((h) => [
    { t: h.claimed, d: 1 },
    { t: h.released, d: -1 },
  ]);
  // At equal times the release goes first: a slot handed over in the same millisecond is not two holders.
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let holding = 0;
  let maxHolding = 0;
  for (const e of edges) maxHolding = Math.max(maxHolding, (holding += e.d));
  const span = holds.length ? Math.max(...releases) - Math.min(...holds.map((h) => h.claimed)) : 0;
  const held = holds.reduce((sum, h) => sum + (h.released - h.claimed), 0);
  return {
    claimWaitMs: percentiles(holds.map((h) => h.claimed - h.claimScheduled)),
    holdMs: percentiles(holds.map((h) => h.released - h.claimed)),
    afterLastToolMs: percentiles(holds.map((h) => h.released - h.lastTool)),
    releaseMs: percentiles(holds.map((h) => h.released - h.releaseScheduled)),
    handoffMs: percentiles(handoffs),
    utilisation: span > 0 && maxTotal > 0 ? Math.round((held / (maxTotal * span)) * 1000) / 1000 : 0,
    maxHolding,
  };
}

/** The summary over these sessions (workflow id = session id). */
export async function sandboxHolds(client: Client, sessionIds: readonly string[], maxTotal: number): Promise<SandboxHolds> {
  const holds: Hold[] = [];
  for (const id of sessionIds) {
    const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const hold = sessionHold(activityRuns(events));
    if (hold) holds.push(hold);
  }
  return summariseHolds(holds, maxTotal);
}

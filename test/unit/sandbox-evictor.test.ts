/**
 * Parking for a waiting claim (activities/sandbox-evictor.ts), its scheduling with fakes for the save and
 * the release: the longest-idle sandbox idle long enough goes first, never one running a tool, at most one
 * per waiting claim and EVICTIONS_AT_ONCE at once; a kept one is left until its next tool run; a tool call
 * that comes during or after the park is told where the workspace went.
 */
import { describe, expect, it } from 'vitest';
import type { ParkedWorkspace } from '../../activities/types.js';
import { EVICTIONS_AT_ONCE, SandboxEvictor, evictedRef } from '../../activities/sandbox-evictor.js';
import type { SessionRef } from '../../domain/session.js';

const session = (n: number): SessionRef => ({ tenantId: 'acme', sessionId: `ses_${n}`, createdAt: '2026-12-05T00:00:00.000Z' });

function setup(opts: { waiting?: number; kept?: Set<string> } = {}) {
  let now = 10_000;
  let waiting = opts.waiting ?? 1;
  const saves: string[] = [];
  const releases: string[] = [];
  const pending: (() => void)[] = [];
  const evictor = new SandboxEvictor({
    idleMs: 500,
    now: () => now,
    waiting: () => waiting,
    save: async (s, ref): Promise<ParkedWorkspace | { kept: string }> => {
      saves.push(`${s.sessionId} ${ref}`);
      // Each save finishes when the test says so: the overlap of a park and a tool call is observable.
      await new Promise<void>((resolve) => pending.push(resolve));
      return opts.kept?.has(s.sessionId) ? { kept: '1 process(es) it started still run: sleep 300' } : { sha256: s.sessionId.padEnd(64, '0'), bytes: 10 };
    },
    release: async (s) => {
      releases.push(s.sessionId);
    },
  });
  const finishSaves = async () => {
    for (const resolve of pending.splice(0)) resolve();
    await new Promise((r) => setTimeout(r, 0));
  };
  return {
    evictor,
    saves,
    releases,
    finishSaves,
    advance: (ms: number) => (now += ms),
    setWaiting: (n: number) => (waiting = n),
  };
}

describe('SandboxEvictor', () => {
  it('parks the longest-idle sandbox idle long enough, never one running a tool nor one too recently used', async () => {
    const t = setup({ waiting: 1 });
    t.evictor.claimed(session(1), 'c1', false);
    t.advance(100);
    t.evictor.claimed(session(2), 'c2', false);
    t.advance(100);
    t.evictor.claimed(session(3), 'c3', false);
    expect(await t.evictor.begin('ses_1', 'c1')).toBeUndefined();
    t.advance(450);
    // ses_1 runs a tool, ses_2 idle 550 ms, ses_3 idle 450 ms: only ses_2 may go.
    t.evictor.pressure();
    expect(t.saves).toEqual([`ses_2 ${evictedRef('c2')}`]);
    await t.finishSaves();
    expect(t.releases).toEqual(['ses_2']);
    // Its next call is told where the workspace went, once.
    expect(await t.evictor.begin('ses_2', 'c2')).toEqual({ sha256: 'ses_2'.padEnd(64, '0'), bytes: 10 });
    expect(await t.evictor.begin('ses_2', 'c2')).toBeUndefined();
  });

  it('parks at most one per waiting claim and EVICTIONS_AT_ONCE at once', async () => {
    const t = setup({ waiting: 2 });
    for (let i = 1; i <= 8; i++) t.evictor.claimed(session(i), `c${i}`, false);
    t.advance(1_000);
    t.evictor.pressure();
    expect(t.saves).toHaveLength(2);
    t.setWaiting(10);
    t.evictor.pressure();
    expect(t.saves).toHaveLength(EVICTIONS_AT_ONCE);
    t.setWaiting(0);
    await t.finishSaves();
    expect(t.releases).toHaveLength(EVICTIONS_AT_ONCE);
  });

  it('lets a tool call that comes during the park wait for it, then tells it the sandbox moved', async () => {
    const t = setup({ waiting: 1 });
    t.evictor.claimed(session(1), 'c1', false);
    t.advance(600);
    t.evictor.pressure();
    let told: ParkedWorkspace | undefined | 'waiting' = 'waiting';
    const call = t.evictor.begin('ses_1', 'c1').then((p) => (told = p));
    await new Promise((r) => setTimeout(r, 0));
    expect(told).toBe('waiting');
    t.setWaiting(0);
    await t.finishSaves();
    await call;
    expect(told).toMatchObject({ bytes: 10 });
  });

  it('keeps a sandbox whose save says so until its next tool run, and never touches an egress one', async () => {
    const t = setup({ waiting: 1, kept: new Set(['ses_1']) });
    t.evictor.claimed(session(1), 'c1', false);
    t.evictor.claimed(session(2), 'c2', true);
    t.advance(600);
    t.evictor.pressure();
    await t.finishSaves();
    expect(t.releases).toEqual([]);
    t.evictor.pressure();
    expect(t.saves).toHaveLength(1);
    // A tool run makes it a candidate again (its processes may have ended).
    expect(await t.evictor.begin('ses_1', 'c1')).toBeUndefined();
    t.evictor.end('ses_1', 'c1');
    t.advance(600);
    t.evictor.pressure();
    expect(t.saves).toHaveLength(2);
    t.setWaiting(0);
    await t.finishSaves();
  });

  it('forgets a released session, and answers a park of a session it parked already', async () => {
    const t = setup({ waiting: 1 });
    t.evictor.claimed(session(1), 'c1', false);
    t.advance(600);
    t.evictor.pressure();
    t.setWaiting(0);
    await t.finishSaves();
    expect(t.evictor.evictedFor('ses_1')).toMatchObject({ bytes: 10 });
    t.evictor.released('ses_1');
    expect(t.evictor.evictedFor('ses_1')).toBeUndefined();
    expect(await t.evictor.begin('ses_1', 'c1')).toBeUndefined();
  });
});

/**
 * The throughput bench's steady state (bench/sustained.ts): the window in
 * which every session is under way, the tool steps in it, and the machine's
 * CPU from /proc/stat samples, on made-up model calls and counters.
 */
import { describe, expect, it } from 'vitest';
import { cpuOver, groupsOver, machineCpu, parseProcStat, sustained, type CpuSample, type GroupSample } from '../../bench/sustained.js';

const call = (arrived: number, answered = arrived + 1) => ({ arrived, answered });

describe('parseProcStat', () => {
  it('sums busy and all jiffies of the cpu line, not of one core', () => {
    const text = 'cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\nintr 1\n';
    expect(parseProcStat(text, 7)).toEqual({ at: 7, busy: 100 + 5 + 50 + 3 + 2 + 1, all: 161 + 1000 + 20 });
  });

  it('refuses a text without the line', () => {
    expect(() => parseProcStat('cpu0 1 2 3\n', 0)).toThrow(/no "cpu " line/);
  });

  it('reads this machine', () => {
    const a = machineCpu(0);
    expect(a.all).toBeGreaterThan(a.busy);
    expect(a.busy).toBeGreaterThan(0);
  });
});

describe('cpuOver', () => {
  // 2 cores at 100 jiffies a second each: 200 jiffies of all per second; busy 150 a second from t=1000 to 3000.
  const samples: CpuSample[] = [
    { at: 0, busy: 0, all: 0 },
    { at: 1000, busy: 50, all: 200 },
    { at: 3000, busy: 350, all: 600 },
  ];

  it('interpolates between samples and gives the busy share, cores and CPU per step', () => {
    expect(cpuOver(samples, 2000, 3000, 30, 2)).toEqual({ busyShare: 0.75, busyCores: 1.5, busySeconds: 1.5, cpuMsPerToolStep: 50 });
    // 0..1000 at 50 busy of 200: a quarter; 500..1000 is half of it.
    expect(cpuOver(samples, 500, 1000, 5, 2)).toEqual({ busyShare: 0.25, busyCores: 0.5, busySeconds: 0.3, cpuMsPerToolStep: 50 });
  });

  it('counts from the first sample, where the counters may be 0', () => {
    expect(cpuOver(samples, 0, 1000, 5, 2)).toEqual({ busyShare: 0.25, busyCores: 0.5, busySeconds: 0.5, cpuMsPerToolStep: 100 });
  });

  it('is null outside the samples or without steps', () => {
    expect(cpuOver(samples, 2000, 4000, 10, 2)).toBeNull();
    expect(cpuOver(samples, 1000, 2000, 0, 2)).toBeNull();
  });
});

describe('groupsOver', () => {
  // worker: 1 CPU-s a second throughout; containers start at 2 s (a group that appears later counts from 0).
  const samples: GroupSample[] = [
    { at: 0, groups: { worker: 0 } },
    { at: 2000, groups: { worker: 2, containers: 0 } },
    { at: 4000, groups: { worker: 4, containers: 1 } },
  ];

  it('interpolates each group at the bounds, per tool step', () => {
    expect(groupsOver(samples, 1000, 3000, 10)).toEqual({ worker: 200, containers: 50 });
  });

  it('is null outside the samples or without steps', () => {
    expect(groupsOver(samples, 1000, 5000, 10)).toBeNull();
    expect(groupsOver(samples, 1000, 3000, 0)).toBeNull();
    expect(groupsOver([], 0, 1, 1)).toBeNull();
  });
});

describe('sustained', () => {
  const samples: CpuSample[] = [
    { at: 0, busy: 0, all: 0 },
    { at: 10_000, busy: 1600, all: 2000 },
  ];

  it('spans the last first answer to the first last request, counting the tool steps ended in it', () => {
    // Session a starts first and ends first; b's first answer comes last.
    const calls = new Map([
      ['a', [call(0, 100), call(1000), call(2000), call(3000), call(4000)]],
      ['b', [call(500, 1500), call(2500), call(3500), call(4500), call(5500), call(6500)]],
    ]);
    const r = sustained(calls, [{ bench: 'a' }, { bench: 'b' }], 0, samples, 2);
    // Window 1500..4000: a's 2000, 3000, 4000 and b's 2500, 3500.
    expect(r).toMatchObject({ fromMs: 1500, toMs: 4000, seconds: 2.5, toolSteps: 5, toolStepsPerSecond: 2 });
    // 2.5 s at 0.8 of 2 cores = 4 CPU-s over 5 steps.
    expect(r?.cpu).toEqual({ busyShare: 0.8, busyCores: 1.6, busySeconds: 4, cpuMsPerToolStep: 800 });
    expect(r?.cpuMsPerToolStepByGroup).toBeNull();
    const groups = [
      { at: 0, groups: { worker: 0 } },
      { at: 10_000, groups: { worker: 5 } },
    ];
    expect(sustained(calls, [{ bench: 'a' }, { bench: 'b' }], 0, samples, 2, groups)?.cpuMsPerToolStepByGroup).toEqual({ worker: 250 });
  });

  it('reports the window relative to the load start', () => {
    const calls = new Map([['a', [call(10_100, 10_200), call(10_300)]]]);
    expect(sustained(calls, [{ bench: 'a' }], 10_000, samples, 2)).toMatchObject({ fromMs: 200, toMs: 300, toolSteps: 1 });
  });

  it('has no window when a session ends before the last one starts, or one has no tool step', () => {
    const apart = new Map([
      ['a', [call(0), call(1000)]],
      ['b', [call(2000), call(3000)]],
    ]);
    expect(sustained(apart, [{ bench: 'a' }, { bench: 'b' }], 0, samples, 2)).toBeNull();
    expect(sustained(new Map([['a', [call(0)]]]), [{ bench: 'a' }], 0, samples, 2)).toBeNull();
    expect(sustained(new Map(), [{ bench: 'a' }], 0, samples, 2)).toBeNull();
  });

  it('has none when fewer tool steps end in it than there are sessions: they did not run at once', () => {
    // b waited (a pool of one, say) and got its first answer just before a's last step.
    const waited = new Map([
      ['a', [call(0, 100), call(1000), call(2000), call(3000)]],
      ['b', [call(2500, 2600), call(3500), call(4500)]],
    ]);
    expect(sustained(waited, [{ bench: 'a' }, { bench: 'b' }], 0, samples, 2)).toBeNull();
  });
});

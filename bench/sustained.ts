/**
 * The throughput bench's steady state (issue 16 asks for steps per second
 * *sustained* with 200 sessions at once): the window in which every session of
 * the load is under way, from the last session's first model answer (its first
 * tool step can start) to the first session's last model request (it has no
 * tool step left). Outside it the load ramps up (sessions start, claim their
 * sandbox) or drains, and a short session pays its start over few steps.
 *
 * Beside it, the machine's CPU from /proc/stat (every process, the kernel,
 * runc and the container shims included, which the per-process groups of
 * cpu-profile.ts miss): how busy the cores were, and the CPU each tool step
 * cost. A busy share near 1 says the cores are the limit; below it, latency is.
 */
import { readFileSync } from 'node:fs';
import type { ModelCall } from './session-latency.js';

/** Jiffies of all CPUs since boot: busy (user, nice, system, irq, softirq, steal) and all (with idle, iowait). */
export interface CpuSample {
  at: number;
  busy: number;
  all: number;
}

/** Parses the `cpu ` line of /proc/stat (the sum over every CPU). */
export function parseProcStat(text: string, at: number): CpuSample {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no "cpu " line');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { at, busy, all: busy + idle + iowait };
}

export function machineCpu(at: number): CpuSample {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'), at);
}

/** Counters at `at`, each linear between the two samples around it (samples sorted by time; a counter missing from a sample is 0). */
function interpolate(samples: readonly { at: number; counters: Record<string, number> }[], at: number): Record<string, number> | undefined {
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as (typeof samples)[number];
    const b = samples[i] as (typeof samples)[number];
    if (at < a.at || at > b.at) continue;
    const f = b.at === a.at ? 0 : (at - a.at) / (b.at - a.at);
    return Object.fromEntries(Object.keys(b.counters).map((k) => [k, (a.counters[k] ?? 0) + f * ((b.counters[k] ?? 0) - (a.counters[k] ?? 0))]));
  }
  return undefined;
}

export interface CpuOver {
  /** Share of the machine's cores busy over the span (0..1). */
  busyShare: number;
  /** Cores' worth busy on average. */
  busyCores: number;
  /** Busy CPU seconds over the span, every process and the kernel. */
  busySeconds: number;
  /** Busy CPU milliseconds per tool step completed in the span. */
  cpuMsPerToolStep: number;
}

/** The machine's CPU between `from` and `to` over `toolSteps` steps; `cpus` converts jiffies of all CPUs to cores. */
export function cpuOver(samples: readonly CpuSample[], from: number, to: number, toolSteps: number, cpus: number, hz = 100): CpuOver | null {
  const counters = samples.map((s) => ({ at: s.at, counters: { busy: s.busy, all: s.all } }));
  const a = interpolate(counters, from);
  const b = interpolate(counters, to);
  if (!a || !b || toolSteps <= 0) return null;
  const busy = (b.busy ?? 0) - (a.busy ?? 0);
  const all = (b.all ?? 0) - (a.all ?? 0);
  if (all <= 0) return null;
  const share = busy / all;
  return {
    busyShare: Math.round(share * 1000) / 1000,
    busyCores: Math.round(share * cpus * 100) / 100,
    busySeconds: Math.round((busy / hz) * 10) / 10,
    cpuMsPerToolStep: Math.round(((busy / hz) * 1000 * 10) / toolSteps) / 10,
  };
}

/** CPU seconds so far per process group (cpu-profile.ts cpuByGroup), at a time. */
export interface GroupSample {
  at: number;
  groups: Record<string, number>;
}

/**
 * CPU milliseconds per tool step by group between `from` and `to`, each group's counter linear between the samples
 * around the bounds (samples sorted by time). A process that ends inside the span takes its time with it: in the
 * steady-state window no sandbox is removed, so none of the long-lived processes end there.
 */
export function groupsOver(samples: readonly GroupSample[], from: number, to: number, toolSteps: number): Record<string, number> | null {
  const counters = samples.map((s) => ({ at: s.at, counters: s.groups }));
  const a = interpolate(counters, from);
  const b = interpolate(counters, to);
  if (!a || !b || toolSteps <= 0) return null;
  return Object.fromEntries(Object.keys(b).map((k) => [k, Math.round((((b[k] ?? 0) - (a[k] ?? 0)) * 1000 * 10) / toolSteps) / 10]));
}

export interface Sustained {
  /** The window's bounds, ms after the load started, and its length. */
  fromMs: number;
  toMs: number;
  seconds: number;
  /** Tool steps completed in it: model requests after a session's first, each the end of a tool step. */
  toolSteps: number;
  toolStepsPerSecond: number;
  cpu: CpuOver | null;
  /** CPU ms per tool step in the window by process group (bench, worker, temporal, postgres, docker, containers, …). */
  cpuMsPerToolStepByGroup: Record<string, number> | null;
}

/**
 * The steady-state window of a load and its rate; null when there is none: a session ended before the last one got
 * its first answer (too few steps per session for this many sessions), or fewer tool steps ended in it than there are
 * sessions (the sessions did not run at once: most waited, for a sandbox of a smaller pool say).
 */
export function sustained(
  calls: ReadonlyMap<string, readonly ModelCall[]>,
  load: readonly { bench: string }[],
  started: number,
  samples: readonly CpuSample[],
  cpus: number,
  groupSamples: readonly GroupSample[] = [],
): Sustained | null {
  const mine = load.map(({ bench }) => calls.get(bench) ?? []);
  if (mine.length === 0 || mine.some((c) => c.length < 2)) return null;
  const from = Math.max(...mine.map((c) => (c[0] as ModelCall).answered));
  const to = Math.min(...mine.map((c) => (c.at(-1) as ModelCall).arrived));
  if (to <= from) return null;
  let toolSteps = 0;
  for (const c of mine) for (let k = 1; k < c.length; k++) if ((c[k] as ModelCall).arrived > from && (c[k] as ModelCall).arrived <= to) toolSteps++;
  if (toolSteps < mine.length) return null;
  const seconds = (to - from) / 1000;
  return {
    fromMs: Math.round(from - started),
    toMs: Math.round(to - started),
    seconds: Math.round(seconds * 10) / 10,
    toolSteps,
    toolStepsPerSecond: Math.round((toolSteps / seconds) * 100) / 100,
    cpu: cpuOver(samples, from, to, toolSteps, cpus),
    cpuMsPerToolStepByGroup: groupsOver(groupSamples, from, to, toolSteps),
  };
}

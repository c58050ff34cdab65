/**
 * Three quick readings of this machine's speed, stored with every bench result (bench/run.ts), because machines of
 * the same kind differ: on one, a first touch of a page cost 12–17 µs (a virtual machine whose memory the host backs
 * lazily) where others take well under 1 µs, and a tool call's CPU in the sandbox was ×5 of the day before
 * (forks and execs are page faults). Results are comparable only between runs on machines that read alike.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface MachineSpeed {
  /** Microseconds per first write to a fresh 4 KiB page (64 MiB, one byte per page). */
  readonly pageFaultUs: number;
  /** Milliseconds per `spawnSync('/bin/true')` (fork, exec, wait; 50 of them). */
  readonly spawnMs: number;
  /** Milliseconds for a fixed integer loop, the fastest of five: the CPU itself, for scale. */
  readonly cpuLoopMs: number;
}

const PAGE = 4096;
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A fixed integer loop (its result is used, so that it is not optimized away). */
function cpuLoop(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * 7) | 0;
  return x;
}

export function machineSpeed(): MachineSpeed {
  // allocUnsafeSlow: memory straight from the allocator, not zeroed (a large one is a fresh mmap), so the loop's
  // writes are the first touches.
  const bytes = 64 * 2 ** 20;
  const buffer = Buffer.allocUnsafeSlow(bytes);
  let start = performance.now();
  for (let i = 0; i < bytes; i += PAGE) buffer[i] = 1;
  const pageFaultUs = ((performance.now() - start) * 1000) / (bytes / PAGE);

  const spawns = 50;
  start = performance.now();
  for (let i = 0; i < spawns; i++) spawnSync('/bin/true');
  const spawnMs = (performance.now() - start) / spawns;

  // The fastest of five calls: timed once, the loop read 25 or 210 ms on one machine from run to run, as V8
  // optimized it while it ran or not (on-stack replacement); from the second call on it runs optimized.
  let cpuLoopMs = Infinity;
  for (let run = 0; run < 5; run++) {
    start = performance.now();
    const x = cpuLoop(50_000_000);
    cpuLoopMs = Math.min(cpuLoopMs, performance.now() - start + (x === 0.5 ? 1 : 0));
  }

  return { pageFaultUs: round(pageFaultUs), spawnMs: round(spawnMs), cpuLoopMs: round(cpuLoopMs, 0) };
}

/**
 * What the workflow stack traces (WORKER_WORKFLOW_STACK_TRACES, temporal/workflow-stack-traces.ts) cost workflow
 * code: the CPU per replayed workflow of every recorded history in test/histories/current, replayed by the SDK's
 * replay worker with each mode's preload: `eager` (the SDK's own promise hook), `lazy` (ours, formatting when a
 * query reads a stack), `off` (no hook). Replay runs the same workflow code a worker runs, with the same promises,
 * and no server, so the comparison is of the hooks alone. The modes alternate (A B C A B C …) in fresh processes.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../config/index.js';
import { STACK_TRACES_PRELOADS, type WorkflowStackTraces } from '../temporal/workflow-stack-traces.js';

const MODES: readonly WorkflowStackTraces[] = ['eager', 'lazy', 'off'];

export interface StackTracesResult {
  readonly rounds: number;
  /** Each process's CPU per replayed workflow, ms, in the order they ran, per mode. */
  readonly cpuMsPerWorkflow: Record<WorkflowStackTraces, number[]>;
  readonly meanCpuMsPerWorkflow: Record<WorkflowStackTraces, number>;
  /** Means over the eager mode's (the SDK's hook). */
  readonly ratio: { lazy: number; off: number };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function replayOnce(mode: WorkflowStackTraces, rounds: number): number {
  const preload = mode === 'eager' ? [] : ['--require', STACK_TRACES_PRELOADS[mode]];
  const out = execFileSync(process.execPath, [...preload, '--import', 'tsx', join(REPO_ROOT, 'bench/stack-traces-replay.ts')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ROUNDS: String(rounds) },
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const last = out.trim().split('\n').filter((l) => l.startsWith('{"replayed"')).pop();
  if (!last) throw new Error(`stack-traces: the ${mode} replay printed no result`);
  return (JSON.parse(last) as { cpuMsPerWorkflow: number }).cpuMsPerWorkflow;
}

export function benchStackTraces(options: { passes?: number; rounds?: number } = {}): StackTracesResult {
  const passes = options.passes ?? 3;
  const rounds = options.rounds ?? 4;
  const cpu: Record<WorkflowStackTraces, number[]> = { eager: [], lazy: [], off: [] };
  for (let p = 0; p < passes; p++) for (const mode of MODES) cpu[mode].push(round2(replayOnce(mode, rounds)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const means = { eager: round2(mean(cpu.eager)), lazy: round2(mean(cpu.lazy)), off: round2(mean(cpu.off)) };
  return { rounds, cpuMsPerWorkflow: cpu, meanCpuMsPerWorkflow: means, ratio: { lazy: round2(means.lazy / means.eager), off: round2(means.off / means.eager) } };
}

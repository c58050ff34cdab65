/**
 * What one workflow costs a worker before it runs a line: the SDK runs all workflows of a worker in one V8
 * context and gives each its own instance of every module in the bundle, except the modules the bundle shares
 * (workflows/shared-modules.ts: zod and the shell parser). Per workflow created (a new session, or a cached one
 * replayed after eviction): the heap it keeps and the time its creation takes, with the modules shared (the
 * worker's bundle) and without (every module per workflow, as before), alternated A B A B in one process.
 *
 * Creation only: the first activation's own allocations (the workflow's state, its first commands) come on top,
 * the same with both bundles.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadWorkflowBundle } from '../temporal/worker-options.js';
import { workflowContext } from '../test/support/workflow-context.js';
import { percentiles, type Summary } from './stats.js';

export interface FootprintRun {
  readonly bundle: 'shared' | 'per-workflow';
  /** Heap the context itself holds after loading the bundle (shared modules included), MB. */
  readonly contextMb: number;
  /** Heap each workflow keeps after creation (the sample's mean after a full GC), KB. */
  readonly perWorkflowKb: number;
  /** Each workflow's creation (its modules loaded and run), ms. */
  readonly createMs: Summary;
}

export interface FootprintResult {
  readonly workflows: number;
  readonly bundleBytes: { shared: number; perWorkflow: number };
  readonly runs: FootprintRun[];
  /** Shared / per-workflow, means of the runs: heap per workflow and creation time p50. */
  readonly ratio: { perWorkflowKb: number; createMsP50: number };
}

/** A full collection: node's gc, exposed for this process (the bench does not run with --expose-gc). */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

async function measure(bundle: FootprintRun['bundle'], code: string, workflows: number, gc: () => void): Promise<FootprintRun> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const context = await workflowContext(code);
  try {
    gc();
    const loaded = process.memoryUsage().heapUsed;
    const times: number[] = [];
    for (let i = 0; i < workflows; i++) {
      const start = performance.now();
      await context.newWorkflow(`footprint-${i}`);
      times.push(performance.now() - start);
    }
    gc();
    const after = process.memoryUsage().heapUsed;
    return {
      bundle,
      contextMb: Math.round(((loaded - before) / 2 ** 20) * 10) / 10,
      perWorkflowKb: Math.round((after - loaded) / workflows / 1024),
      createMs: percentiles(times),
    };
  } finally {
    await context.destroy();
  }
}

export async function benchWorkflowFootprint(workflows = 200, rounds = 2): Promise<FootprintResult> {
  const shared = (await loadWorkflowBundle()).code;
  const perWorkflow = (await loadWorkflowBundle({ shareModules: false })).code;
  const gc = collector();
  const runs: FootprintRun[] = [];
  for (let round = 0; round < rounds; round++) {
    runs.push(await measure('shared', shared, workflows, gc));
    runs.push(await measure('per-workflow', perWorkflow, workflows, gc));
  }
  const mean = (bundle: FootprintRun['bundle'], pick: (run: FootprintRun) => number) => {
    const of = runs.filter((run) => run.bundle === bundle).map(pick);
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  const ratio = (pick: (run: FootprintRun) => number) => Math.round((mean('shared', pick) / mean('per-workflow', pick)) * 100) / 100;
  return {
    workflows,
    bundleBytes: { shared: shared.length, perWorkflow: perWorkflow.length },
    runs,
    ratio: { perWorkflowKb: ratio((run) => run.perWorkflowKb), createMsP50: ratio((run) => run.createMs.p50) },
  };
}

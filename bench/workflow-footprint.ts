/**
 * What one workflow costs a worker as it starts: the SDK runs all workflows of a worker in one V8 context and gives
 * each its own instance of every module in the bundle, except the modules the bundle shares
 * (workflows/shared-modules.ts: the shell parser). Per workflow (a new session, or a cached one replayed after
 * eviction): the heap it keeps and the time it takes, with the parser shared (the worker's bundle) and without
 * (every module per workflow), alternated A B A B in one process.
 *
 * Two measures each: the workflow created only, and a session workflow also given its first activation (the standard
 * policy, as a session starts: it runs until it waits on its first activity). Later activations add the session's
 * own state, the same with both bundles.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { REPO_ROOT } from '../config/index.js';
import { PolicyStore, snapshotPolicy, type PolicySnapshot } from '../policies/load.js';
import { loadWorkflowBundle } from '../temporal/worker-options.js';
import { workflowContext, type WorkflowContext } from '../test/support/workflow-context.js';
import { percentiles, type Summary } from './stats.js';

export interface FootprintRun {
  readonly bundle: 'shared' | 'per-workflow';
  /** Heap the context itself holds after loading the bundle (shared modules included), MB. */
  readonly contextMb: number;
  /** Heap each workflow keeps after creation (the sample's mean after a full GC), KB. */
  readonly perWorkflowKb: number;
  /** Each workflow's creation (its modules loaded and run), ms. */
  readonly createMs: Summary;
  /** Heap each session workflow keeps after its first activation, KB. */
  readonly perStartedSessionKb: number;
  /** A session workflow's creation and first activation, ms. */
  readonly startMs: Summary;
}

export interface FootprintResult {
  readonly workflows: number;
  readonly bundleBytes: { shared: number; perWorkflow: number };
  readonly runs: FootprintRun[];
  /** Shared / per-workflow, means of the runs: heap per workflow (created; started) and creation time p50. */
  readonly ratio: { perWorkflowKb: number; perStartedSessionKb: number; createMsP50: number };
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

/** Heap kept per workflow and the time of each, for `workflows` made by `make` in a fresh context. */
async function sample(code: string, workflows: number, gc: () => void, make: (context: WorkflowContext, i: number) => Promise<unknown>) {
  const context = await workflowContext(code);
  try {
    gc();
    const before = process.memoryUsage().heapUsed;
    const times: number[] = [];
    for (let i = 0; i < workflows; i++) {
      const start = performance.now();
      await make(context, i);
      times.push(performance.now() - start);
    }
    gc();
    return { kb: Math.round((process.memoryUsage().heapUsed - before) / workflows / 1024), ms: percentiles(times) };
  } finally {
    await context.destroy();
  }
}

async function measure(bundle: FootprintRun['bundle'], code: string, workflows: number, gc: () => void, policy: PolicySnapshot): Promise<FootprintRun> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const empty = await workflowContext(code);
  gc();
  const contextMb = Math.round(((process.memoryUsage().heapUsed - before) / 2 ** 20) * 10) / 10;
  await empty.destroy();
  const created = await sample(code, workflows, gc, (context, i) => context.newWorkflow(`footprint-${i}`));
  const started = await sample(code, workflows, gc, (context, i) => context.startSession(`ses_footprint-${i}`, policy));
  return { bundle, contextMb, perWorkflowKb: created.kb, createMs: created.ms, perStartedSessionKb: started.kb, startMs: started.ms };
}

export async function benchWorkflowFootprint(workflows = 200, rounds = 2): Promise<FootprintResult> {
  const shared = (await loadWorkflowBundle()).code;
  const perWorkflow = (await loadWorkflowBundle({ shareModules: false })).code;
  const gc = collector();
  const standard = new PolicyStore(`${REPO_ROOT}/policies`).get('standard');
  if (!standard) throw new Error('no standard policy in policies/templates');
  // The standard policy, as the API pins it for a session.
  const policy = snapshotPolicy(standard);
  const runs: FootprintRun[] = [];
  for (let round = 0; round < rounds; round++) {
    runs.push(await measure('shared', shared, workflows, gc, policy));
    runs.push(await measure('per-workflow', perWorkflow, workflows, gc, policy));
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
    ratio: {
      perWorkflowKb: ratio((run) => run.perWorkflowKb),
      perStartedSessionKb: ratio((run) => run.perStartedSessionKb),
      createMsP50: ratio((run) => run.createMs.p50),
    },
  };
}

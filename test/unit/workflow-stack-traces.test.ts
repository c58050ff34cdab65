/**
 * WORKER_WORKFLOW_STACK_TRACES (temporal/workflow-stack-traces.ts): each preload, in a worker thread as the SDK
 * starts its workflow threads, leaves the SDK's global handlers installed with the stack-trace preparation: `off`
 * without a promise hook, `lazy` with ours, which keeps in a workflow's store what the SDK's hook keeps, formatted
 * only when read. Node's AsyncLocalStorage (the SDK's cancellation scopes, OpenTelemetry's context) keeps working.
 * The wrap gives the preload to the SDK's workflow-thread script only, and only while it runs.
 * (Through a whole worker and the `__stack_trace` query: test/integration/workflow-stack-traces.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Worker as ThreadWorker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  LAZY_STACK_TRACES_PRELOAD,
  NO_STACK_TRACES_PRELOAD,
  SDK_VM_SHARED as VM_SHARED,
  checkStackTraceSwitch,
  withWorkflowStackTraces,
  type WorkflowStackTraces,
} from '../../temporal/workflow-stack-traces.js';

const require = createRequire(import.meta.url);
const threads = require('node:worker_threads') as { Worker: typeof ThreadWorker };

/** A worker thread that installs the SDK's global handlers as its workflow thread does, then runs code under AsyncLocalStorage across an await. */
const THREAD = `
const { Worker } = require('node:worker_threads');
const code = ${JSON.stringify(`
  const { parentPort } = require('node:worker_threads');
  const { AsyncLocalStorage } = require('node:async_hooks');
  const { globalHandlers } = require(${JSON.stringify(VM_SHARED)});
  const original = globalHandlers.origPrepareStackTrace;
  const warn = console.warn; console.warn = () => {};
  globalHandlers.install();
  console.warn = warn;
  const als = new AsyncLocalStorage();
  als.run('ctx', async () => {
    await new Promise((r) => setTimeout(r, 5));
    parentPort.postMessage({ hook: globalHandlers.promiseHookInstalled, prepared: Error.prepareStackTrace !== original, als: als.getStore() ?? null });
  });
`)};
new Worker(code, { eval: true, execArgv: process.env.PRELOAD ? ['--require', process.env.PRELOAD] : [] }).on('message', (m) => { console.log(JSON.stringify(m)); process.exit(0); });
`;

/** The thread's execArgv gets `--require preload`, as the wrap gives it to the SDK's workflow threads. */
function inThread(preload?: string): { hook: boolean; prepared: boolean; als: string | null } {
  const run = spawnSync(process.execPath, ['-e', THREAD], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, PRELOAD: preload ?? '' } });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim()) as { hook: boolean; prepared: boolean; als: string | null };
}

/**
 * Workflow-like code in a vm context with an activator, as the SDK runs a workflow, its file source-mapped as the
 * SDK maps the workflow bundle (line N of the script is line N + 100 of workflows/session.ts): promises awaited one
 * in another, Promise.all and Promise.race. Prints the store as each hook leaves it (promises numbered in order of
 * appearance), at three points: all pending, after the first release, all settled; and how many source-map lookups
 * were made before the first read of a stack.
 */
const STORE = `
const vm = require('node:vm');
const { dirname } = require('node:path');
const { globalHandlers } = require(${JSON.stringify(VM_SHARED)});
const { SourceMapGenerator } = require(require.resolve('source-map', { paths: [dirname(${JSON.stringify(VM_SHARED)})] }));
const filename = '/bundle/workflow-bundle.js';
const code = [
  'const pending = [];',
  'function wait(name) { return new Promise((resolve) => pending.push(resolve)); }',
  'async function both() { await Promise.all([wait("a"), wait("b")]); }',
  'async function either() { return Promise.race([wait("c"), wait("d")]); }',
  'async function main() { await both(); await either(); }',
  'globalThis.run = main();',
  'globalThis.release = () => pending.splice(0).forEach((r) => r());',
];
const map = new SourceMapGenerator({ file: filename });
code.forEach((text, i) => { for (let c = 0; c < text.length; c++) map.addMapping({ generated: { line: i + 1, column: c }, original: { line: i + 101, column: c }, source: 'workflows/session.ts' }); });
(async () => {
  globalHandlers.install();
  await globalHandlers.addWorkflowBundle({ filename, sourceMap: JSON.parse(map.toString()) });
  let lookups = 0;
  const consumer = globalHandlers.bundleFilenameToSourceMapConsumer.get(filename);
  const lookup = consumer.originalPositionFor.bind(consumer);
  consumer.originalPositionFor = (p) => { lookups++; return lookup(p); };
  const store = { promiseToStack: new Map(), childToParent: new Map() };
  const ctx = vm.createContext({ __TEMPORAL_ACTIVATOR__: { promiseStackStore: store, info: { runId: 'run-1' } } });
  vm.runInContext(code.join('\\n'), ctx, { filename });
  const lookupsBeforeRead = lookups;
  const ids = new Map();
  const id = (p) => { if (!ids.has(p)) ids.set(p, ids.size); return ids.get(p); };
  const snap = () => ({
    stacks: [...store.promiseToStack].map(([p, s]) => [id(p), s.formatted, s.structured]),
    parents: [...store.childToParent].map(([c, ps]) => [id(c), [...ps].map(id)]),
  });
  const tick = () => new Promise((r) => setTimeout(r, 5));
  const pending = snap();
  ctx.release(); await tick();
  const half = snap();
  ctx.release(); await tick();
  console.log(JSON.stringify({ hook: globalHandlers.promiseHookInstalled, lookupsBeforeRead, runId: ctx.run.runId, pending, half, settled: snap() }));
})();
`;

interface Store {
  stacks: [number, string, { file_path?: string; function_name?: string; line?: number }[]][];
  parents: [number, number[]][];
}
interface StoreRun {
  hook: boolean;
  lookupsBeforeRead: number;
  runId?: string;
  pending: Store;
  half: Store;
  settled: Store;
}

function storeWith(preload?: string): StoreRun {
  const run = spawnSync(process.execPath, [...(preload ? ['--require', preload] : []), '-e', STORE], { encoding: 'utf8', timeout: 15_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim()) as StoreRun;
}

describe('workflow threads and their stack traces', () => {
  it("installs the SDK's handlers in a thread given a preload, with the stack preparation, the hook as the mode says, and AsyncLocalStorage", () => {
    expect(inThread()).toEqual({ hook: true, prepared: true, als: 'ctx' });
    expect(inThread(NO_STACK_TRACES_PRELOAD)).toEqual({ hook: false, prepared: true, als: 'ctx' });
    expect(inThread(LAZY_STACK_TRACES_PRELOAD)).toEqual({ hook: true, prepared: true, als: 'ctx' });
  });

  it("keeps with the lazy hook what the SDK's hook keeps, and source-maps nothing until a stack is read", () => {
    const sdk = storeWith();
    const lazy = storeWith(LAZY_STACK_TRACES_PRELOAD);
    // The SDK's hook formats each stack as its promise is made; ours has not looked anything up yet.
    expect(sdk.lookupsBeforeRead).toBeGreaterThan(10);
    expect(lazy.lookupsBeforeRead).toBe(0);
    const { lookupsBeforeRead: _sdk, ...sdkStores } = sdk;
    const { lookupsBeforeRead: _lazy, ...lazyStores } = lazy;
    expect(lazyStores).toEqual(sdkStores);
    // What the comparison covers: source-mapped frames in the TypeScript, cut where the script's run begins.
    const main = sdk.pending.stacks[0]!;
    expect(main[1]).toBe('    at main (workflows/session.ts:105:20)\n    at workflows/session.ts:106:18');
    expect(main[2].map((f) => f.function_name ?? null)).toEqual(['main', null]);
    // Promise.all's `then` promises are linked to its promise, which waits on both of its own.
    const all = sdk.pending.stacks.find(([, text]) => text.startsWith('    at Function.all (<anonymous>)'));
    expect(all).toBeDefined();
    const allParents = sdk.pending.parents.find(([child]) => child === all![0])![1];
    expect(allParents).toHaveLength(2);
    expect(sdk.pending.stacks.some(([, text]) => text.startsWith('    at Promise.then (<anonymous>)\n    at Function.all'))).toBe(false);
    expect(sdk.half.stacks.some(([, text]) => text.startsWith('    at Function.race (<anonymous>)'))).toBe(true);
    expect(sdk.settled).toEqual({ stacks: [], parents: [] });
    expect(sdk.runId).toBe('run-1');
    // Off: nothing kept.
    expect(storeWith(NO_STACK_TRACES_PRELOAD)).toMatchObject({ hook: false, pending: { stacks: [], parents: [] } });
  });

  it.each([
    ['off', NO_STACK_TRACES_PRELOAD],
    ['lazy', LAZY_STACK_TRACES_PRELOAD],
    ['eager', undefined],
  ] as const)("gives the %s preload to the SDK's workflow-thread script only, and only while the worker is created", async (mode: WorkflowStackTraces, preload) => {
    const Original = threads.Worker;
    const seen: { script: string; execArgv: string[] | undefined }[] = [];
    // Records what each thread would start with, without starting it.
    class Recorder {
      constructor(script: string, options?: { execArgv?: string[] }) {
        seen.push({ script, execArgv: options?.execArgv });
      }
    }
    const sdkScript = join(dirname(VM_SHARED), 'workflow-worker-thread.js');
    threads.Worker = Recorder as unknown as typeof threads.Worker;
    try {
      await expect(
        withWorkflowStackTraces(mode, async () => {
          new threads.Worker(sdkScript);
          new threads.Worker('/elsewhere/thread.js', { execArgv: ['--no-warnings'] });
          throw new Error('the worker failed to start');
        }),
      ).rejects.toThrow('the worker failed to start');
      // Restored even though the creation failed.
      expect(threads.Worker).toBe(Recorder);
    } finally {
      threads.Worker = Original;
    }
    expect(seen).toEqual([
      { script: sdkScript, execArgv: preload ? [...process.execArgv, '--require', preload] : undefined },
      { script: '/elsewhere/thread.js', execArgv: ['--no-warnings'] },
    ]);
  });

  it('stops startup naming the setting when the SDK lacks what the preload relies on', () => {
    expect(() => checkStackTraceSwitch('off')).not.toThrow();
    expect(() => checkStackTraceSwitch('lazy')).not.toThrow();
    expect(() => checkStackTraceSwitch('off', {})).toThrow(/WORKER_WORKFLOW_STACK_TRACES=off .*set it to eager/);
    expect(() => checkStackTraceSwitch('lazy', { globalHandlers: { installed: false, overridePrepareStackTrace: undefined } })).toThrow(/WORKER_WORKFLOW_STACK_TRACES=lazy/);
    // The lazy hook renders through the SDK's preparation and reads the frames it leaves.
    expect(() => checkStackTraceSwitch('lazy', { globalHandlers: { installed: false, overridePrepareStackTrace: () => '' } })).toThrow(/currentStackTrace/);
    expect(() => checkStackTraceSwitch('off', { globalHandlers: { installed: false, overridePrepareStackTrace: () => '' } })).not.toThrow();
  });
});

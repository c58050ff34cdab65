/**
 * WORKER_WORKFLOW_STACK_TRACES (config/index.ts): how the SDK's workflow threads keep stack traces for the
 * `__stack_trace` query (the Temporal UI's "Stack Trace" tab).
 *
 * To answer it the SDK (@temporalio/worker 1.24) installs a V8 promise hook in each workflow thread that captures,
 * source-maps and formats a stack trace for every promise workflow code makes: about a third of a busy workflow
 * thread's CPU in a `perf` profile at 200 sessions (README, Numbers), most of it the formatting. No worker option
 * changes it. The SDK starts its workflow threads with `new Worker(script)` of node:worker_threads while
 * `Worker.create` runs; during that call the threads started from the SDK's workflow-thread script get a preload
 * that installs the SDK's global handlers before the SDK does:
 * - `lazy` (temporal/workflow-thread-lazy-stack-traces.cjs): a hook of ours that keeps V8's call sites and formats
 *   them as the SDK would when a query reads them;
 * - `off` (temporal/workflow-thread-no-stack-traces.cjs): no hook, the query answers "not enabled";
 * - `eager`: no preload, the SDK's own hook.
 * Workflows, their commands and replay are the same under each (the hooks make no commands).
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker as ThreadWorker, WorkerOptions as ThreadOptions } from 'node:worker_threads';

const require = createRequire(import.meta.url);
/** The CommonJS exports of node:worker_threads: the object the SDK's `require` reads `Worker` from at each call. */
const threads = require('node:worker_threads') as { Worker: typeof ThreadWorker };
const SDK_WORKFLOW_DIR = join(dirname(require.resolve('@temporalio/worker')), 'workflow');
const SDK_THREAD_SCRIPT = join(SDK_WORKFLOW_DIR, 'workflow-worker-thread.js');
/** The SDK module whose global handlers the preloads install. */
export const SDK_VM_SHARED = join(SDK_WORKFLOW_DIR, 'vm-shared.js');
export const NO_STACK_TRACES_PRELOAD = fileURLToPath(new URL('./workflow-thread-no-stack-traces.cjs', import.meta.url));
export const LAZY_STACK_TRACES_PRELOAD = fileURLToPath(new URL('./workflow-thread-lazy-stack-traces.cjs', import.meta.url));

/** The setting's values (config/index.ts). */
export type WorkflowStackTraces = 'lazy' | 'eager' | 'off';
/** The file each mode preloads into the SDK's workflow threads (`eager` none). */
export const STACK_TRACES_PRELOADS = { lazy: LAZY_STACK_TRACES_PRELOAD, off: NO_STACK_TRACES_PRELOAD } as const;

/** The SDK's global handlers as the preload uses them (the shape of @temporalio/worker 1.24's vm-shared.js). */
interface GlobalHandlers {
  installed: unknown;
  overridePrepareStackTrace: unknown;
  currentStackTrace?: unknown;
}

/**
 * Stops startup, naming the setting, when this SDK's workflow module lacks what the preload relies on (a new
 * version may move it): without this check its workflow threads would fail at their first task instead.
 */
export function checkStackTraceSwitch(mode: Exclude<WorkflowStackTraces, 'eager'>, vmShared = require(SDK_VM_SHARED) as { globalHandlers?: GlobalHandlers }): void {
  const handlers = vmShared.globalHandlers;
  const shaped = handlers && typeof handlers.installed === 'boolean' && typeof handlers.overridePrepareStackTrace === 'function';
  // The lazy hook also renders stacks through the SDK's preparation, which leaves their frames in currentStackTrace.
  if (!shaped || (mode === 'lazy' && !('currentStackTrace' in handlers)) || !threads.Worker) {
    throw new Error(
      `WORKER_WORKFLOW_STACK_TRACES=${mode} needs @temporalio/worker's global handlers (installed, overridePrepareStackTrace, currentStackTrace) in ${SDK_VM_SHARED}, as 1.24 has; this SDK has none: set it to eager`,
    );
  }
}

/**
 * Runs `create` (the sessions worker's `Worker.create`) with the SDK's workflow threads it starts keeping stack traces
 * as `mode` says. Any other thread keeps its options. While `create` runs, every SDK workflow thread this process
 * starts gets the preload: a process that creates a worker of another mode at the same moment must not call this
 * (the worker process creates one sessions worker; tests start such stacks one after another).
 */
export async function withWorkflowStackTraces<T>(mode: WorkflowStackTraces, create: () => Promise<T>): Promise<T> {
  if (mode === 'eager') return create();
  checkStackTraceSwitch(mode);
  const preload = STACK_TRACES_PRELOADS[mode];
  const Original = threads.Worker;
  class SdkWorkflowThread extends Original {
    constructor(filename: string | URL, options?: ThreadOptions) {
      const sdkThread = typeof filename === 'string' && resolve(filename) === SDK_THREAD_SCRIPT;
      super(filename, sdkThread ? { ...options, execArgv: [...(options?.execArgv ?? process.execArgv), '--require', preload] } : options);
    }
  }
  threads.Worker = SdkWorkflowThread;
  try {
    return await create();
  } finally {
    threads.Worker = Original;
  }
}

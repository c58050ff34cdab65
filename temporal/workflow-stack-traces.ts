/**
 * WORKER_WORKFLOW_STACK_TRACES=false (config/index.ts): the SDK's workflow threads without its stack-trace promise hook.
 *
 * To answer the `__stack_trace` query the SDK (@temporalio/worker 1.24) installs a V8 promise hook in each workflow
 * thread that captures and formats a stack trace for every promise workflow code makes: about a third of a busy
 * workflow thread's CPU in a `perf` profile at 200 sessions (README, Numbers). No worker option turns it off. The SDK
 * starts its workflow threads with `new Worker(script)` of node:worker_threads while `Worker.create` runs; during that
 * call the threads started from the SDK's workflow-thread script get temporal/workflow-thread-no-stack-traces.cjs
 * preloaded, which marks the SDK's global handlers installed without the hook. Workflows, their commands and replay
 * are the same (the hook makes no commands); the query answers "not enabled".
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
/** The SDK module whose global handlers the preload marks installed. */
export const SDK_VM_SHARED = join(SDK_WORKFLOW_DIR, 'vm-shared.js');
export const NO_STACK_TRACES_PRELOAD = fileURLToPath(new URL('./workflow-thread-no-stack-traces.cjs', import.meta.url));

/** The SDK's global handlers as the preload uses them (the shape of @temporalio/worker 1.24's vm-shared.js). */
interface GlobalHandlers {
  installed: unknown;
  overridePrepareStackTrace: unknown;
}

/**
 * Stops startup, naming the setting, when this SDK's workflow module lacks what the preload relies on (a new
 * version may move it): without this check its workflow threads would fail at their first task instead.
 */
export function checkStackTraceSwitch(vmShared = require(SDK_VM_SHARED) as { globalHandlers?: GlobalHandlers }): void {
  const handlers = vmShared.globalHandlers;
  if (!handlers || typeof handlers.installed !== 'boolean' || typeof handlers.overridePrepareStackTrace !== 'function' || !threads.Worker) {
    throw new Error(
      `WORKER_WORKFLOW_STACK_TRACES=false needs @temporalio/worker's global handlers (installed, overridePrepareStackTrace) in ${SDK_VM_SHARED}, as 1.24 has; this SDK has none: set it to true`,
    );
  }
}

/**
 * Runs `create` (the sessions worker's `Worker.create`) with the SDK's workflow threads it starts preloaded without
 * the hook. Any other thread keeps its options. While `create` runs, every SDK workflow thread this process starts
 * gets the preload: a process that creates a worker with stack traces at the same moment must not call this (the
 * worker process creates one sessions worker; tests start such stacks one after another).
 */
export async function withoutWorkflowStackTraces<T>(create: () => Promise<T>): Promise<T> {
  checkStackTraceSwitch();
  const Original = threads.Worker;
  class SdkWorkflowThread extends Original {
    constructor(filename: string | URL, options?: ThreadOptions) {
      const sdkThread = typeof filename === 'string' && resolve(filename) === SDK_THREAD_SCRIPT;
      super(filename, sdkThread ? { ...options, execArgv: [...(options?.execArgv ?? process.execArgv), '--require', NO_STACK_TRACES_PRELOAD] } : options);
    }
  }
  threads.Worker = SdkWorkflowThread;
  try {
    return await create();
  } finally {
    threads.Worker = Original;
  }
}

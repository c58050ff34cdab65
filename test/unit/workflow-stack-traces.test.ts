/**
 * WORKER_WORKFLOW_STACK_TRACES=false (temporal/workflow-stack-traces.ts): the preload, in a worker thread as the SDK
 * starts its workflow threads, leaves the SDK's global handlers installed without the promise hook and with the
 * stack-trace preparation; Node's AsyncLocalStorage (the SDK's cancellation scopes, OpenTelemetry's context) keeps
 * working. The wrap gives the preload to the SDK's workflow-thread script only, and only while it runs.
 * (Through a whole worker and the `__stack_trace` query: test/integration/workflow-stack-traces.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Worker as ThreadWorker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { NO_STACK_TRACES_PRELOAD, SDK_VM_SHARED as VM_SHARED, checkStackTraceSwitch, withoutWorkflowStackTraces } from '../../temporal/workflow-stack-traces.js';

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
    parentPort.postMessage({ sdkHook: globalHandlers.promiseHookInstalled, prepared: Error.prepareStackTrace !== original, als: als.getStore() ?? null });
  });
`)};
new Worker(code, { eval: true, execArgv: process.env.PRELOAD ? ['--require', process.env.PRELOAD] : [] }).on('message', (m) => { console.log(JSON.stringify(m)); process.exit(0); });
`;

/** The thread's execArgv gets `--require preload`, as the wrap gives it to the SDK's workflow threads. */
function inThread(preload?: string): { sdkHook: boolean; prepared: boolean; als: string | null } {
  const run = spawnSync(process.execPath, ['-e', THREAD], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, PRELOAD: preload ?? '' } });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim()) as { sdkHook: boolean; prepared: boolean; als: string | null };
}

describe('workflow threads without stack traces', () => {
  it("keeps the SDK's promise hook out of a thread given the preload, with its stack preparation and AsyncLocalStorage", () => {
    expect(inThread()).toEqual({ sdkHook: true, prepared: true, als: 'ctx' });
    expect(inThread(NO_STACK_TRACES_PRELOAD)).toEqual({ sdkHook: false, prepared: true, als: 'ctx' });
  });

  it("gives the preload to the SDK's workflow-thread script only, and only while the worker is created", async () => {
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
        withoutWorkflowStackTraces(async () => {
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
      { script: sdkScript, execArgv: [...process.execArgv, '--require', NO_STACK_TRACES_PRELOAD] },
      { script: '/elsewhere/thread.js', execArgv: ['--no-warnings'] },
    ]);
  });

  it('stops startup naming the setting when the SDK lacks what the preload relies on', () => {
    expect(() => checkStackTraceSwitch()).not.toThrow();
    expect(() => checkStackTraceSwitch({})).toThrow(/WORKER_WORKFLOW_STACK_TRACES=false .*set it to true/);
    expect(() => checkStackTraceSwitch({ globalHandlers: { installed: false, overridePrepareStackTrace: undefined } })).toThrow(/WORKER_WORKFLOW_STACK_TRACES/);
  });
});

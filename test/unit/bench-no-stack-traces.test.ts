/**
 * The throughput bench's `nostack` preload (bench/no-workflow-stack-traces.cjs), in a worker thread as the SDK's
 * workflow thread would have it: the SDK's own promise hook is refused (so the SDK runs without stack traces), while
 * Node's AsyncLocalStorage, which goes through the same `v8.promiseHooks.createHook`, keeps working. Without the
 * preload the SDK's hook installs; a preload that refused every caller would fail the AsyncLocalStorage check.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PRELOAD = fileURLToPath(new URL('../../bench/no-workflow-stack-traces.cjs', import.meta.url));
const VM_SHARED = createRequire(import.meta.url).resolve('@temporalio/worker/lib/workflow/vm-shared.js');

/** A worker thread that installs the SDK's global handlers, then runs code under AsyncLocalStorage across an await. */
const THREAD = `
const { Worker } = require('node:worker_threads');
const code = ${JSON.stringify(`
  const { parentPort } = require('node:worker_threads');
  const { AsyncLocalStorage } = require('node:async_hooks');
  const { GlobalHandlers } = require(${JSON.stringify(VM_SHARED)});
  const warn = console.warn; console.warn = () => {};
  const handlers = new GlobalHandlers();
  handlers.install();
  console.warn = warn;
  const als = new AsyncLocalStorage();
  als.run('ctx', async () => {
    await new Promise((r) => setTimeout(r, 5));
    parentPort.postMessage({ sdkHook: handlers.promiseHookInstalled, als: als.getStore() ?? null });
  });
`)};
new Worker(code, { eval: true }).on('message', (m) => { console.log(JSON.stringify(m)); process.exit(0); });
`;

function inThread(nodeArgs: string[]): { sdkHook: boolean; als: string | null } {
  const run = spawnSync(process.execPath, [...nodeArgs, '-e', THREAD], { encoding: 'utf8', timeout: 15_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim()) as { sdkHook: boolean; als: string | null };
}

describe("the bench's nostack preload", () => {
  it("keeps the SDK's workflow promise hook out of worker threads, and AsyncLocalStorage working", () => {
    expect(inThread([])).toEqual({ sdkHook: true, als: 'ctx' });
    expect(inThread(['--require', PRELOAD])).toEqual({ sdkHook: false, als: 'ctx' });
  });
});

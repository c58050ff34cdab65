/**
 * The throughput bench's `nostack` variant (bench/throughput.ts), preloaded into the worker process with
 * `NODE_OPTIONS=--require …` so that it runs in every thread, the SDK's workflow threads included.
 *
 * The Temporal SDK (1.24) installs a V8 promise hook in its workflow thread that captures and formats a stack trace
 * for every promise workflow code creates (for the `__stack_trace` query, the Web UI's "Stack Trace" tab); the
 * worker's profiles put it at 17–30 % of that thread. No worker option turns it off, but the SDK runs without it when
 * `v8.promiseHooks.createHook` throws (as on runtimes that lack it): stack trace queries then answer "not enabled"
 * and nothing else changes (the hook creates no promises, so replay is the same). Only the SDK's own call is refused:
 * Node's AsyncLocalStorage (the SDK's cancellation scopes and the OpenTelemetry context inside workflows use it)
 * goes through the same function, and refusing it fails every workflow task.
 *
 * A measurement, not a setting: no start path of the platform loads this file.
 */
'use strict';
const { isMainThread } = require('node:worker_threads');

if (!isMainThread) {
  const hooks = require('node:v8').promiseHooks;
  const createHook = hooks.createHook;
  /** The frame that called createHook: only the SDK's GlobalHandlers.setPromiseHook is refused, never a call that
   * merely has SDK code further up its stack (AsyncLocalStorage.run inside a workflow activation re-enables its hook). */
  const caller = () => {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 3; // this function, the wrapper below, its caller
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = limit;
    return stack.split('\n')[3] ?? '';
  };
  hooks.createHook = (callbacks) => {
    if (/\bsetPromiseHook\b.*[\\/]@temporalio[\\/]worker[\\/]lib[\\/]workflow[\\/]vm-shared\.js/.test(caller())) {
      throw new Error('workflow stack traces are off (bench/no-workflow-stack-traces.cjs)');
    }
    return createHook(callbacks);
  };
}

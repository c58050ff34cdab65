/**
 * The throughput bench's `notimeout` variant (bench/throughput.ts), preloaded into the worker process with
 * `NODE_OPTIONS=--require …` so that it runs in every thread, the SDK's workflow threads included.
 *
 * The Temporal SDK calls into the workflows' V8 context with node's `timeout` option on every call (the worker's
 * `isolateExecutionTimeout`, 5 s): the guard that fails a workflow task stuck in a loop instead of the whole thread.
 * node implements it with a watchdog thread started and joined per call (src/node_watchdog.cc), and the SDK makes
 * several calls per activation. This drops the option in the workflow threads to measure what the guard costs.
 *
 * A measurement, not a setting: no start path of the platform loads this file (without the guard a workflow that
 * loops wedges every workflow of its worker).
 */
'use strict';
const { isMainThread } = require('node:worker_threads');

if (!isMainThread) {
  const { Script } = require('node:vm');
  const runInContext = Script.prototype.runInContext;
  Script.prototype.runInContext = function (context, options) {
    if (options && typeof options === 'object' && 'timeout' in options) {
      const { timeout: _dropped, ...rest } = options;
      return runInContext.call(this, context, rest);
    }
    return runInContext.call(this, context, options);
  };
}

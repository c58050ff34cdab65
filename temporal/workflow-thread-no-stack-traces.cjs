/**
 * Preloaded (`--require`) into the Temporal SDK's workflow threads when WORKER_WORKFLOW_STACK_TRACES is `off`, and
 * into no other thread: temporal/workflow-stack-traces.ts gives it to the threads the SDK starts while it creates the
 * sessions worker. It runs before the thread's own script, so the SDK finds its global handlers installed: the
 * stack-trace preparation that maps workflow errors to the TypeScript sources is set as the SDK sets it, and the V8
 * promise hook that captures a stack trace for every promise of workflow code is never created (the SDK then runs
 * as on a runtime without promise hooks: the `__stack_trace` query answers "not enabled").
 *
 * CommonJS and plain JavaScript: node loads it in a fresh thread, without the TypeScript loader of `make dev`.
 * The main thread checks the SDK's shape before any thread starts (checkStackTraceSwitch); this checks it again.
 */
'use strict';
const { join, dirname } = require('node:path');

const vmShared = join(dirname(require.resolve('@temporalio/worker')), 'workflow', 'vm-shared.js');
const { globalHandlers } = require(vmShared);
if (!globalHandlers || globalHandlers.installed !== false || typeof globalHandlers.overridePrepareStackTrace !== 'function') {
  throw new Error(`WORKER_WORKFLOW_STACK_TRACES=off: ${vmShared} has no global handlers as @temporalio/worker 1.24 has`);
}
globalHandlers.overridePrepareStackTrace();
globalHandlers.installed = true;

/**
 * Preloaded (`--require`) into the Temporal SDK's workflow threads when WORKER_WORKFLOW_STACK_TRACES is `lazy` (the
 * default; temporal/workflow-stack-traces.ts gives it to the threads the SDK starts while it creates the sessions
 * worker). It installs the SDK's global handlers with a promise hook of its own in place of the SDK's: the same
 * records in each workflow's `promiseStackStore`, so the `__stack_trace` and enhanced stack trace queries (the
 * Temporal UI's "Stack Trace" tab) answer as with the SDK's hook, but each pending promise keeps the call sites V8
 * captured, and they are source-mapped and formatted only when a query reads them. The SDK's hook formats every
 * promise's stack as it is made (each frame through the bundle's source map, then regular expressions over the
 * text): most of its cost in a busy workflow thread, for a query that is rarely asked (README, Numbers).
 *
 * CommonJS and plain JavaScript: node loads it in a fresh thread, without the TypeScript loader of `make dev`.
 * The main thread checks the SDK's shape before any thread starts (checkStackTraceSwitch); this checks it again.
 */
'use strict';
const { join, dirname } = require('node:path');
const { promiseHooks } = require('node:v8');
const { cutoffStackTrace } = require('@temporalio/common');

const vmShared = join(dirname(require.resolve('@temporalio/worker')), 'workflow', 'vm-shared.js');
const { globalHandlers } = require(vmShared);
const shaped = globalHandlers && globalHandlers.installed === false && typeof globalHandlers.overridePrepareStackTrace === 'function';
if (!shaped || !('currentStackTrace' in globalHandlers) || typeof cutoffStackTrace !== 'function') {
  throw new Error(`WORKER_WORKFLOW_STACK_TRACES=lazy: ${vmShared} has no global handlers as @temporalio/worker 1.24 has`);
}
// The SDK's preparation: source-maps each call site of workflow code, returns the text and leaves the same frames
// as objects in globalHandlers.currentStackTrace. Errors of workflow code keep going through it.
globalHandlers.overridePrepareStackTrace();
const sdkPrepare = Error.prepareStackTrace;
/** In place of the SDK's preparation while the hook reads a stack: V8's call sites, untouched. */
const callSites = (_error, sites) => sites;

/** A frame that sets up an aggregate promise; the `then` promises it makes belong to it (as the SDK links them). */
const AGGREGATOR = /^(?:Function|Promise)\.(?:race|all|allSettled|any) \(<anonymous>\)$/;
/** The functions whose frames the checks below read: the aggregators and the `then` they call. */
const AGGREGATOR_NAMES = new Set(['then', 'race', 'all', 'allSettled', 'any']);
/** Where workflow code ends and the SDK's activation begins (the SDK's own cut of structured stacks). */
const isActivationFrame = ({ function_name: fn, file_path: file }) =>
  Boolean(fn && file) &&
  ((/^Activator\.\S+NextHandler$/.test(fn) && /[\\/]workflow[\\/](?:src|lib)[\\/]internals\.[jt]s$/.test(file)) ||
    (/Script\.runInContext/.test(fn) && /^node:vm|vm\.js$/.test(file)));

/** One promise's stack: V8's call sites until a query reads it, then the SDK's text and frames. */
class LazyStack {
  #error;
  #sites;
  #formatted;
  #structured;
  constructor(error, sites) {
    this.#error = error;
    this.#sites = sites;
  }
  #render() {
    const outer = globalHandlers.currentStackTrace;
    globalHandlers.currentStackTrace = undefined;
    const text = sdkPrepare(this.#error, this.#sites);
    const frames = globalHandlers.currentStackTrace ?? [];
    globalHandlers.currentStackTrace = outer;
    // The text starts with the error's own line ("Error").
    this.#formatted = cutoffStackTrace(text.slice(text.indexOf('\n') + 1));
    const cut = frames.findIndex(isActivationFrame);
    this.#structured = cut < 0 ? frames : frames.slice(0, cut);
    this.#error = this.#sites = undefined;
  }
  get formatted() {
    if (this.#formatted === undefined) this.#render();
    return this.#formatted;
  }
  get structured() {
    if (this.#structured === undefined) this.#render();
    return this.#structured;
  }
}

/**
 * Per realm (a workflow context's Function constructor): the functions that read its global's activator and
 * Error, compiled once. The SDK compiles them anew for every promise; they are called at each use, so a realm
 * shared by many workflows (the SDK's reusable context) still answers for the one running now.
 */
const realms = new WeakMap();
function realmOf(promise) {
  const Fn = promise.constructor.constructor;
  let realm = realms.get(Fn);
  if (realm === undefined) {
    realm = { activator: Fn('return globalThis.__TEMPORAL_ACTIVATOR__'), Error: Fn('return globalThis.Error') };
    realms.set(Fn, realm);
  }
  return realm;
}

/** The aggregate promise whose `then` promises are being made (Promise.all and its kin), as the SDK tracks it. */
let aggregation;

function init(promise, parent) {
  const realm = realmOf(promise);
  const activator = realm.activator();
  if (!activator) return;
  const store = activator.promiseStackStore;
  promise.runId = activator.info.runId;
  const error = new (realm.Error())();
  let sites;
  Error.prepareStackTrace = callSites;
  try {
    sites = error.stack;
  } finally {
    Error.prepareStackTrace = sdkPrepare;
  }
  // Workflow code set its own preparation: no stack, as the SDK's hook keeps none then.
  if (!Array.isArray(sites)) return;
  // This function's frame, and Node's dispatch to several hooks where it shows.
  let from = 1;
  if (sites[1]?.getFunctionName() === 'initAll' && sites[1].getFileName() === 'node:internal/promise_hooks') from = 2;
  sites = sites.slice(from);
  // The frames as the SDK's hook reads them (its text), formatted only where the function's name can match.
  const top = sites.length > 0 && AGGREGATOR_NAMES.has(sites[0].getFunctionName()) ? String(sites[0]) : '';
  let stack;
  if (aggregation !== undefined && top === 'Promise.then (<anonymous>)' && sites.length > 1 && AGGREGATOR.test(String(sites[1]))) {
    promise = aggregation;
    stack = store.promiseToStack.get(aggregation);
  } else {
    aggregation = AGGREGATOR.test(top) ? promise : undefined;
    stack = new LazyStack(error, sites);
  }
  if (promise === parent) return;
  store.promiseToStack.set(promise, stack);
  const parents = store.childToParent.get(promise) ?? new Set();
  if (parent) parents.add(parent);
  store.childToParent.set(promise, parents);
}

function settled(promise) {
  const store = realmOf(promise).activator()?.promiseStackStore;
  if (!store) return;
  store.childToParent.delete(promise);
  store.promiseToStack.delete(promise);
}

globalHandlers.stopPromiseHook = promiseHooks.createHook({ init, settled });
globalHandlers.promiseHookInstalled = true;
globalHandlers.installed = true;

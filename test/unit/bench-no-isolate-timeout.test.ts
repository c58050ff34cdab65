/**
 * The throughput bench's `notimeout` preload (bench/no-isolate-timeout.cjs): in a worker thread, as the SDK's workflow
 * thread calls into its context, a script running longer than its `timeout` completes instead of being stopped; in the
 * main thread, and without the preload, node's timeout still stops it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PRELOAD = fileURLToPath(new URL('../../bench/no-isolate-timeout.cjs', import.meta.url));

/** Runs 300 ms of busy script under a 50 ms timeout, in the main thread and in a worker thread: what each got. */
const PROBE = `
const vm = require('node:vm');
const busy = () => {
  try { return String(new vm.Script('const end = Date.now() + 300; while (Date.now() < end); "done"').runInContext(vm.createContext({ Date }), { timeout: 50 })); }
  catch (e) { return e.code ?? String(e); }
};
const { Worker } = require('node:worker_threads');
const main = busy();
new Worker('const { parentPort } = require("node:worker_threads"); const vm = require("node:vm"); ' + 'parentPort.postMessage((' + busy.toString() + ')())', { eval: true })
  .on('message', (thread) => { console.log(JSON.stringify({ main, thread })); process.exit(0); });
`;

function probe(nodeArgs: string[]): { main: string; thread: string } {
  const run = spawnSync(process.execPath, [...nodeArgs, '-e', PROBE], { encoding: 'utf8', timeout: 15_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim()) as { main: string; thread: string };
}

describe("the bench's notimeout preload", () => {
  it('drops the per-call timeout in worker threads only', () => {
    expect(probe([])).toEqual({ main: 'ERR_SCRIPT_EXECUTION_TIMEOUT', thread: 'ERR_SCRIPT_EXECUTION_TIMEOUT' });
    expect(probe(['--require', PRELOAD])).toEqual({ main: 'ERR_SCRIPT_EXECUTION_TIMEOUT', thread: 'done' });
  });
});

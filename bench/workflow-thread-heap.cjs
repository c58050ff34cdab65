/**
 * The throughput bench's view of the worker's workflow threads (bench/worker-memory.ts), preloaded into a worker
 * process of its own with `NODE_OPTIONS=--require …`, so that it runs in every thread of it.
 *
 * The Temporal SDK runs workflows in worker threads whose V8 heaps the process's /metrics do not show (prom-client
 * reads the main thread's; Node 20 has no `Worker.getHeapStatistics()` for a thread the SDK owns). In each thread
 * but the main one this writes the thread's heap statistics to a file every 500 ms, which the bench's memory
 * sampler reads beside /metrics (with the thread's kernel id, whose CPU the bench reads from /proc). A measurement, not a setting: no start path of the platform loads this file.
 */
'use strict';
const { isMainThread, threadId } = require('node:worker_threads');

const dir = process.env.KORTIX_BENCH_THREAD_HEAP_DIR;
if (!isMainThread && dir) {
  const { renameSync, writeFileSync } = require('node:fs');
  const { join } = require('node:path');
  const { getHeapStatistics, getHeapSpaceStatistics } = require('node:v8');
  const file = join(dir, `thread-${threadId}.json`);
  // The thread's id in the kernel (its /proc/<pid>/task entry), for the bench's CPU of the workflow threads.
  const tid = Number(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
  // The `threadgc` variant (node --expose-gc): a full collection every so often, so that the live heap (used right
  // after it) can be told from garbage V8 has not collected yet. It costs the thread a pause each time.
  const gcEveryMs = Number(process.env.KORTIX_BENCH_THREAD_HEAP_GC_MS ?? 0);
  const gc = typeof globalThis.gc === 'function' && gcEveryMs > 0 ? globalThis.gc : undefined;
  let lastGc = 0;
  let liveAfterGc;
  const write = () => {
    if (gc && Date.now() - lastGc >= gcEveryMs) {
      gc();
      lastGc = Date.now();
      liveAfterGc = getHeapStatistics().used_heap_size;
    }
    const { used_heap_size: heapUsed, total_heap_size: heapTotal, external_memory: external, malloced_memory: malloced } = getHeapStatistics();
    // The young generation's share of the total (its two semi-spaces): what --max-semi-space-size bounds.
    const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    // Written aside and renamed: the sampler never reads half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify({ threadId, tid, heapUsed, heapTotal, newSpace, external, malloced, liveAfterGc, at: Date.now() }));
    renameSync(`${file}.tmp`, file);
  };
  write();
  setInterval(write, 500).unref();
}

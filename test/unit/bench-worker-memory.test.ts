/** bench/worker-memory.ts: the memory series read from a worker's /metrics text. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../observability/metrics.js';
import { cpuByGroup } from '../../bench/cpu-profile.js';
import { parseWorkerMemory, readThreadHeaps, withThreadHeapPreload, withThreadHeaps, workflowThreadTids } from '../../bench/worker-memory.js';

describe('parseWorkerMemory', () => {
  it('reads RSS, heap and external memory from a registry with the default metrics, and the rest of RSS', async () => {
    const metrics = createMetrics({ service: 'worker' });
    const memory = parseWorkerMemory(await metrics.registry.metrics());
    expect(memory).toBeDefined();
    const usage = process.memoryUsage();
    // The same process: within a few MB of what Node says now.
    expect(Math.abs((memory?.rssMb ?? 0) - usage.rss / 2 ** 20)).toBeLessThan(64);
    expect(memory?.heapUsedMb).toBeGreaterThan(0);
    expect(memory?.heapUsedMb).toBeLessThanOrEqual(memory?.heapTotalMb ?? 0);
    expect(memory?.restMb).toBeCloseTo((memory?.rssMb ?? 0) - (memory?.heapTotalMb ?? 0) - (memory?.externalMb ?? 0), 0);
    // prom-client's heap spaces: the young generation is part of the total.
    expect(memory?.newSpaceMb).toBeGreaterThan(0);
    expect(memory?.newSpaceMb).toBeLessThan(memory?.heapTotalMb ?? 0);
  });

  it('answers undefined when a series is missing (a registry without the default metrics)', async () => {
    const metrics = createMetrics({ service: 'worker', defaultMetrics: false });
    expect(parseWorkerMemory(await metrics.registry.metrics())).toBeUndefined();
    expect(parseWorkerMemory('process_resident_memory_bytes 1048576\n')).toBeUndefined();
  });

  it('parses series with and without labels', () => {
    const text = [
      'process_resident_memory_bytes{service="worker"} 524288000',
      'nodejs_heap_size_used_bytes 104857600',
      'nodejs_heap_size_total_bytes{service="worker"} 209715200',
      'nodejs_external_memory_bytes{service="worker"} 10485760',
    ].join('\n');
    expect(parseWorkerMemory(text)).toEqual({ rssMb: 500, heapUsedMb: 100, heapTotalMb: 200, externalMb: 10, restMb: 290 });
    // The young generation: that space's line only, not another space's.
    const spaces = ['nodejs_heap_space_size_total_bytes{space="old",service="worker"} 157286400', 'nodejs_heap_space_size_total_bytes{space="new",service="worker"} 33554432'];
    expect(parseWorkerMemory([text, ...spaces].join('\n'))?.newSpaceMb).toBe(32);
  });
});

describe('the workflow threads\' heaps', () => {
  it('the preload writes each thread\'s heap but the main thread\'s, and the sampler reads them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thread-heaps-'));
    try {
      // As the threadgc variant runs it: a forced collection before each write here.
      const env: Record<string, string> = { ...withThreadHeapPreload({ NODE_OPTIONS: '--expose-gc' }, dir), KORTIX_BENCH_THREAD_HEAP_GC_MS: '1' };
      expect(env.NODE_OPTIONS).toMatch(/^--expose-gc --require \S+workflow-thread-heap\.cjs$/);
      // Two threads that hold ~16 MB each for a while (the preload writes at start and every 500 ms), as the SDK's do.
      const thread = `new (require('node:worker_threads').Worker)("globalThis.x = new Array(2e6).fill(1.5); setTimeout(() => {}, 700)", { eval: true })`;
      execFileSync(process.execPath, ['-e', `${thread}; ${thread}`], { env: { ...process.env, ...env }, timeout: 20_000 });
      expect(readdirSync(dir).sort()).toEqual(['thread-1.json', 'thread-2.json']);
      const threads = readThreadHeaps(dir, 60_000);
      expect(threads?.threads).toBe(2);
      expect(threads?.heapUsedMb).toBeGreaterThan(2 * 15);
      expect(threads?.heapTotalMb).toBeGreaterThanOrEqual(threads?.heapUsedMb ?? Infinity);
      expect(threads?.newSpaceMb).toBeGreaterThan(0);
      expect(threads?.newSpaceMb).toBeLessThan(threads?.heapTotalMb ?? 0);
      // The arrays are live: a collection keeps them.
      expect(threads?.liveAfterGcMb).toBeGreaterThan(2 * 15);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names each thread's kernel id, whose CPU the bench reads as the workflow threads' group", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thread-heaps-'));
    // One thread that spins for ~0.6 s of CPU, then idles until killed.
    const thread = `new (require('node:worker_threads').Worker)("const end = Date.now() + 600; while (Date.now() < end); setInterval(() => {}, 1000)", { eval: true })`;
    const child = spawn(process.execPath, ['-e', thread], { env: { ...process.env, ...withThreadHeapPreload({}, dir) }, stdio: 'ignore' });
    try {
      const deadline = Date.now() + 15_000;
      while (workflowThreadTids(dir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const tids = workflowThreadTids(dir);
      expect(tids).toHaveLength(1);
      expect(tids[0]).not.toBe(child.pid);
      expect(readdirSync(`/proc/${child.pid}/task`)).toContain(String(tids[0]));
      await new Promise((r) => setTimeout(r, 900));
      const groups = cpuByGroup('no-such-temporal', child.pid, undefined, tids);
      // The spin is the thread's, and a part of the process's.
      expect(groups.workflowThreads).toBeGreaterThanOrEqual(0.4);
      expect(groups.worker).toBeGreaterThanOrEqual(groups.workflowThreads ?? Infinity);
      expect(cpuByGroup('no-such-temporal', child.pid).workflowThreads).toBeUndefined();
    } finally {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts fresh files only, and takes the threads out of the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thread-heaps-'));
    try {
      const mib = 2 ** 20;
      const file = (id: number, at: number) =>
        writeFileSync(join(dir, `thread-${id}.json`), JSON.stringify({ threadId: id, heapUsed: 100 * mib, heapTotal: 120 * mib, newSpace: 16 * mib, external: 5 * mib, malloced: 3 * mib, at }));
      file(1, 10_000);
      file(2, 9_000);
      file(3, 1_000); // a thread that ended 9 s ago
      writeFileSync(join(dir, 'thread-4.json.tmp'), '{"half');
      const threads = readThreadHeaps(dir, 5_000, 10_500);
      expect(threads).toEqual({ threads: 2, heapUsedMb: 200, heapTotalMb: 240, newSpaceMb: 32, externalMb: 10, mallocedMb: 6 });
      const memory = { rssMb: 1000, heapUsedMb: 100, heapTotalMb: 200, externalMb: 10, restMb: 790 };
      expect(withThreadHeaps(memory, threads)).toEqual({ ...memory, workflowThreads: threads, outsideHeapsMb: 534 });
      expect(withThreadHeaps(memory, undefined)).toEqual(memory);
      expect(readThreadHeaps(dir, 5_000, 100_000)).toBeUndefined();
      // The threadgc variant: the live heap after the latest forced collection, only when every thread has one.
      writeFileSync(join(dir, 'thread-1.json'), JSON.stringify({ heapUsed: mib, heapTotal: mib, external: 0, malloced: 0, liveAfterGc: 40 * mib, at: 10_000 }));
      expect(readThreadHeaps(dir, 5_000, 10_500)?.liveAfterGcMb).toBeUndefined();
      writeFileSync(join(dir, 'thread-2.json'), JSON.stringify({ heapUsed: mib, heapTotal: mib, external: 0, malloced: 0, liveAfterGc: 2 * mib, at: 10_000 }));
      expect(readThreadHeaps(dir, 5_000, 10_500)?.liveAfterGcMb).toBe(42);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Where a worker process's memory is at the load's peak (issue 16: a worker under 512 MB at 200 sessions): its
 * /metrics (prom-client's default process and Node.js series, observability/health-server.ts) sampled during the
 * load, the sample of the largest RSS kept. The heap is the main thread's, where activities and the SDK's
 * client side run; the workflow threads' V8 isolates, the SDK's Rust core and the allocator's spare are in the
 * rest (`rss - heapTotal - external`). The workflow threads' heaps, which /metrics cannot see, come from the files
 * bench/workflow-thread-heap.cjs writes inside the worker (read with each scrape); what is left of the rest is then
 * outside every V8 heap: the Rust core, the threads' stacks and code, the allocator.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Preloaded into a worker process of its own: writes its workflow threads' heap statistics (see the file). */
const THREAD_HEAP_PRELOAD = fileURLToPath(new URL('./workflow-thread-heap.cjs', import.meta.url));

/** A worker process's environment with the preload, writing to `dir` (beside a variant's own NODE_OPTIONS). */
export function withThreadHeapPreload(env: Record<string, string>, dir: string): Record<string, string> {
  const nodeOptions = [env.NODE_OPTIONS ?? process.env.NODE_OPTIONS, '--require', THREAD_HEAP_PRELOAD].filter(Boolean).join(' ');
  return { ...env, NODE_OPTIONS: nodeOptions, KORTIX_BENCH_THREAD_HEAP_DIR: dir };
}

export interface WorkerMemory {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  /** Of the main thread's heap total, the young generation (prom-client's `space="new"`). */
  readonly newSpaceMb?: number;
  readonly externalMb: number;
  /** RSS beyond the main thread's heap and external memory. */
  readonly restMb: number;
  /**
   * The workflow threads' V8 heaps (bench/workflow-thread-heap.cjs), when the worker runs with it: every thread but the
   * main one, so under tsx (`--worker-build=tsx`) also tsx's module loader thread (2 threads, against 1 compiled).
   */
  readonly workflowThreads?: ThreadHeaps;
  /** The rest less the workflow threads' heaps, external and malloced memory: memory outside every V8 isolate. */
  readonly outsideHeapsMb?: number;
}

export interface ThreadHeaps {
  readonly threads: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  /** Of the heap total, the young generation (absent in files of a bench before it was written). */
  readonly newSpaceMb: number;
  readonly externalMb: number;
  /** What V8 itself allocated with malloc beside the heap (compiler zones and the like). */
  readonly mallocedMb: number;
  /** The `threadgc` variant: heap used right after the latest forced full collection, the live part. */
  readonly liveAfterGcMb?: number;
}

/** Written by bench/workflow-thread-heap.cjs in each thread of the worker but its main one. */
interface ThreadHeapFile {
  /** The thread's kernel id (/proc/<pid>/task/<tid>). */
  readonly tid?: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly newSpace?: number;
  readonly external: number;
  readonly malloced: number;
  readonly liveAfterGc?: number;
  readonly at: number;
}

/** The thread files of `dir` written within `freshMs` (a thread that ended stops writing). */
function freshThreadFiles(dir: string, freshMs: number, now: number): ThreadHeapFile[] {
  const files: ThreadHeapFile[] = [];
  for (const name of readdirSync(dir)) {
    if (!/^thread-\d+\.json$/.test(name)) continue;
    try {
      files.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as ThreadHeapFile);
    } catch {
      // Renamed away between the listing and the read: the next sample has it.
    }
  }
  return files.filter((f) => now - f.at <= freshMs);
}

/** The kernel ids of the worker's workflow threads that write to `dir` (bench/cpu-profile.ts reads their CPU). */
export function workflowThreadTids(dir: string, freshMs = 5_000, now = Date.now()): number[] {
  return freshThreadFiles(dir, freshMs, now).flatMap((f) => (f.tid ? [f.tid] : []));
}

/** The sum over the thread files of `dir` written within `freshMs` (a thread that ended stops writing). */
export function readThreadHeaps(dir: string, freshMs = 5_000, now = Date.now()): ThreadHeaps | undefined {
  const fresh = freshThreadFiles(dir, freshMs, now);
  if (fresh.length === 0) return undefined;
  const sum = (pick: (f: ThreadHeapFile) => number) => mb(fresh.reduce((a, f) => a + pick(f), 0));
  const heaps = { threads: fresh.length, heapUsedMb: sum((f) => f.heapUsed), heapTotalMb: sum((f) => f.heapTotal), newSpaceMb: sum((f) => f.newSpace ?? 0), externalMb: sum((f) => f.external), mallocedMb: sum((f) => f.malloced) };
  return fresh.every((f) => f.liveAfterGc !== undefined) ? { ...heaps, liveAfterGcMb: sum((f) => f.liveAfterGc ?? 0) } : heaps;
}

/** A /metrics sample with the workflow threads' heaps beside it. */
export function withThreadHeaps(memory: WorkerMemory, threads: ThreadHeaps | undefined): WorkerMemory {
  if (!threads) return memory;
  return { ...memory, workflowThreads: threads, outsideHeapsMb: mb(Math.max(0, (memory.restMb - threads.heapTotalMb - threads.externalMb - threads.mallocedMb) * 2 ** 20)) };
}

const SERIES = {
  rss: 'process_resident_memory_bytes',
  heapUsed: 'nodejs_heap_size_used_bytes',
  heapTotal: 'nodejs_heap_size_total_bytes',
  external: 'nodejs_external_memory_bytes',
  spaceTotal: 'nodejs_heap_space_size_total_bytes',
} as const;

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** The memory series of a Prometheus text exposition; undefined when one is missing. */
export function parseWorkerMemory(text: string): WorkerMemory | undefined {
  /** The first line of the series `name`, of those with the label `label` where one is given. */
  const value = (name: string, label?: string) => {
    const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && (!label || l.slice(name.length, l.indexOf('}') + 1).includes(label)));
    const n = line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
    return Number.isFinite(n) ? n : undefined;
  };
  const [rss, heapUsed, heapTotal, external] = [value(SERIES.rss), value(SERIES.heapUsed), value(SERIES.heapTotal), value(SERIES.external)];
  if (rss === undefined || heapUsed === undefined || heapTotal === undefined || external === undefined) return undefined;
  const newSpace = value(SERIES.spaceTotal, 'space="new"');
  return { rssMb: mb(rss), heapUsedMb: mb(heapUsed), heapTotalMb: mb(heapTotal), ...(newSpace !== undefined ? { newSpaceMb: mb(newSpace) } : {}), externalMb: mb(external), restMb: mb(Math.max(0, rss - heapTotal - external)) };
}

/**
 * Samples a worker's /metrics every `everyMs` and keeps the sample of the largest RSS; `stop` answers it.
 * `threadHeapDir`: where the worker's bench/workflow-thread-heap.cjs writes, read with each scrape.
 */
export function sampleWorkerMemory(metricsUrl: string, everyMs = 1_000, threadHeapDir?: string): { stop(): Promise<WorkerMemory | null> } {
  let peak: WorkerMemory | undefined;
  // Scrapes may overlap (2 s timeout, 1 s apart), and the one at the peak is the likeliest to be slow: all are awaited.
  const pending = new Set<Promise<void>>();
  const sample = () => {
    const scrape: Promise<void> = fetch(metricsUrl, { signal: AbortSignal.timeout(2_000) })
      .then(async (res) => {
        const parsed = res.ok ? parseWorkerMemory(await res.text()) : undefined;
        const memory = parsed && threadHeapDir ? withThreadHeaps(parsed, readThreadHeaps(threadHeapDir)) : parsed;
        if (memory && (!peak || memory.rssMb > peak.rssMb)) peak = memory;
      })
      // A scrape that fails (the worker busy past 2 s) is a sample less, not a failed bench.
      .catch(() => {})
      .finally(() => pending.delete(scrape));
    pending.add(scrape);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      return peak ?? null;
    },
  };
}

/** One line of the bench's table: `heap used/total, external, rest (threads used/total + malloced, outside V8)`. */
export function describeWorkerMemory(m: WorkerMemory | null): string {
  if (!m) return '-';
  const t = m.workflowThreads;
  const live = t?.liveAfterGcMb !== undefined ? `, live ${t.liveAfterGcMb}` : '';
  const threads = t ? ` (${t.threads} threads ${t.heapUsedMb}/${t.heapTotalMb} new ${t.newSpaceMb} + ${t.mallocedMb}${live}, outside V8 ${m.outsideHeapsMb})` : '';
  const young = m.newSpaceMb !== undefined ? ` new ${m.newSpaceMb}` : '';
  return `${m.heapUsedMb}/${m.heapTotalMb}${young}, ${m.externalMb}, ${m.restMb}${threads}`;
}

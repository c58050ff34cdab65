/**
 * Where a worker process's memory is at the load's peak (issue 16: a worker under 512 MB at 200 sessions): its
 * /metrics (prom-client's default process and Node.js series, observability/health-server.ts) sampled during the
 * load, the sample of the largest RSS kept. The heap is the main thread's, where activities and the SDK's
 * client side run; the workflow threads' V8 isolates, the SDK's Rust core and the allocator's spare are in the
 * rest (`rss - heapTotal - external`).
 */

export interface WorkerMemory {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  /** RSS beyond the main thread's heap and external memory. */
  readonly restMb: number;
}

const SERIES = {
  rss: 'process_resident_memory_bytes',
  heapUsed: 'nodejs_heap_size_used_bytes',
  heapTotal: 'nodejs_heap_size_total_bytes',
  external: 'nodejs_external_memory_bytes',
} as const;

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** The memory series of a Prometheus text exposition; undefined when one is missing. */
export function parseWorkerMemory(text: string): WorkerMemory | undefined {
  const value = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    const n = line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
    return Number.isFinite(n) ? n : undefined;
  };
  const [rss, heapUsed, heapTotal, external] = [value(SERIES.rss), value(SERIES.heapUsed), value(SERIES.heapTotal), value(SERIES.external)];
  if (rss === undefined || heapUsed === undefined || heapTotal === undefined || external === undefined) return undefined;
  return { rssMb: mb(rss), heapUsedMb: mb(heapUsed), heapTotalMb: mb(heapTotal), externalMb: mb(external), restMb: mb(Math.max(0, rss - heapTotal - external)) };
}

/** Samples a worker's /metrics every `everyMs` and keeps the sample of the largest RSS; `stop` answers it. */
export function sampleWorkerMemory(metricsUrl: string, everyMs = 1_000): { stop(): Promise<WorkerMemory | null> } {
  let peak: WorkerMemory | undefined;
  // Scrapes may overlap (2 s timeout, 1 s apart), and the one at the peak is the likeliest to be slow: all are awaited.
  const pending = new Set<Promise<void>>();
  const sample = () => {
    const scrape: Promise<void> = fetch(metricsUrl, { signal: AbortSignal.timeout(2_000) })
      .then(async (res) => {
        const memory = res.ok ? parseWorkerMemory(await res.text()) : undefined;
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

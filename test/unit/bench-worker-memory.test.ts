/** bench/worker-memory.ts: the memory series read from a worker's /metrics text. */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../observability/metrics.js';
import { parseWorkerMemory } from '../../bench/worker-memory.js';

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
  });
});

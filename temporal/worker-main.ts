/**
 * `npm run worker`: one worker process. Parses the configuration, builds the
 * worker (temporal/build-worker.ts: migrates the database, checks Docker,
 * registers search attributes), then polls its task queues until
 * SIGINT/SIGTERM, when it drains (in-flight activities finish within the
 * grace time) and exits.
 */
import { setFlagsFromString } from 'node:v8';
import { Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from '../config/index.js';
import { createLogger } from '../observability/logger.js';
import { temporalLogger } from '../observability/temporal-logger.js';
import { startTracing } from '../observability/tracing.js';
import { buildWorker } from './build-worker.js';

const config = loadConfigOrExit();
// Before the SDK starts its workflow threads: V8 reads the flag at each collection of every isolate, theirs included.
if (config.WORKER_HEAP_GROWING_PERCENT > 0) setFlagsFromString(`--heap-growing-percent=${config.WORKER_HEAP_GROWING_PERCENT}`);
const logger = createLogger({ level: config.LOG_LEVEL, bindings: { service: 'worker', host: config.WORKER_HOST_ID } });
const tracing = startTracing({ service: 'kortix-worker', endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
const sdkMetricsAddress = `${config.WORKER_HEALTH_HOST}:${config.WORKER_SDK_METRICS_PORT}`;
try {
  Runtime.install({
    logger: temporalLogger(logger.child({ component: 'temporal' })),
    // The SDK's own worker metrics (task slots, pollers, schedule-to-start latency) on their own port, for Prometheus.
    ...(config.WORKER_SDK_METRICS_PORT > 0
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetricsAddress, useSecondsForDurations: true } } } }
      : {}),
  });
} catch (err) {
  // The SDK binds its metrics port here (a port in use fails): name the variable to change.
  logger.error('worker failed', { err, sdkMetrics: `${sdkMetricsAddress} (WORKER_SDK_METRICS_PORT; 0 turns it off)` });
  process.exit(1);
}

async function main(): Promise<void> {
  const worker = await buildWorker(config, { logger, tracing });
  process.on('SIGINT', () => worker.stop('SIGINT'));
  process.on('SIGTERM', () => worker.stop('SIGTERM'));
  logger.info('worker started', {
    taskQueues: worker.workers.taskQueues,
    healthPort: worker.healthPort,
    namespace: config.TEMPORAL_NAMESPACE,
    heapGrowingPercent: config.WORKER_HEAP_GROWING_PERCENT || 'v8',
    workflowStackTraces: config.WORKER_WORKFLOW_STACK_TRACES,
  });
  try {
    await worker.run();
  } finally {
    await tracing?.shutdown();
    logger.info('worker stopped');
  }
}

main().catch((err: unknown) => {
  logger.error('worker failed', { err });
  process.exit(1);
});

/**
 * `npm run worker`: one worker process. Parses the configuration, migrates the
 * database, checks Docker, registers search attributes, then polls its task
 * queues until SIGINT/SIGTERM, when it drains (in-flight activities finish
 * within the grace time) and exits.
 */
import Docker from 'dockerode';
import { Runtime } from '@temporalio/worker';
import { loadConfigOrExit, requireDatabaseUrl } from '../config/index.js';
import { createDb } from '../db/client.js';
import { artifactsFromConfig, checkObjectStore, objectStoreFromConfig } from '../storage/from-config.js';
import { migrateToLatest } from '../db/migrate.js';
import { sql } from 'kysely';
import { ReadinessChecker } from '../observability/health.js';
import { closeServer, createHealthApp, listen } from '../observability/health-server.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { temporalLogger } from '../observability/temporal-logger.js';
import { startTracing } from '../observability/tracing.js';
import { createRouterFromConfig } from '../router/create.js';
import { sandboxHostFromConfig } from '../sandbox/from-config.js';
import { temporalOrphanCheck } from '../sandbox/lease-check.js';
import { createTemporalClient, createWorkerConnection } from './client.js';
import { payloadCodecFromConfig } from './codec/from-config.js';
import { ensureMaintenanceSchedule } from './schedules.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { slackNotifyDeps } from '../slack/notify-deps.js';
import { createWorkers } from './worker.js';
import { loadWorkflowBundle } from './worker-options.js';

const config = loadConfigOrExit();
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
  const db = createDb({ url: requireDatabaseUrl(config), poolMax: config.DATABASE_POOL_MAX, applicationName: 'kortix-worker' });
  const metrics = createMetrics({ service: 'worker' });
  // Before migrating: a bad model policy stops the worker at once, naming file, line and path.
  const models = createRouterFromConfig({ config, db, metrics, logger });
  const router = models.router;
  await migrateToLatest(db);
  const docker = new Docker({ socketPath: config.DOCKER_SOCKET });
  // The sandbox pool asks Temporal whether a claimed container's session still holds it (orphans are removed);
  // a sessions worker keeps the maintenance schedule in line with the configuration.
  const codec = payloadCodecFromConfig(config, db, (err) => logger.warn('payload keyring not reloaded', { err }));
  const client = await createTemporalClient(config, { codec });
  const host = config.WORKER_ROLES.includes('sandbox')
    ? sandboxHostFromConfig(config, {
        docker,
        metrics,
        logger: logger.child({ component: 'sandbox' }),
        isOrphan: temporalOrphanCheck(client, config.WORKER_HOST_ID),
      })
    : undefined;
  if (host) {
    await host.ping().catch((err: unknown) => {
      throw new Error(`Docker engine not reachable at ${config.DOCKER_SOCKET} (DOCKER_SOCKET): ${(err as Error).message}`);
    });
    await docker.getImage(config.SANDBOX_IMAGE).inspect().catch(() => {
      throw new Error(`sandbox image ${config.SANDBOX_IMAGE} (SANDBOX_IMAGE) is missing: run sandbox/build-image.sh`);
    });
    // Rebuilds the warm pool from Docker (adopts idle containers, removes leftovers) and starts refilling it.
    await host.start();
  }
  const connection = await createWorkerConnection(config);
  await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
  const bundle = await loadWorkflowBundle({ bundlePath: config.WORKFLOW_BUNDLE_PATH, logger: temporalLogger(logger) });
  if (config.WORKER_ROLES.includes('sessions')) {
    const change = await ensureMaintenanceSchedule(client, { prefix: config.TASK_QUEUE_PREFIX, intervalMs: config.MAINTENANCE_INTERVAL });
    logger.info('maintenance schedule', { change, intervalMs: config.MAINTENANCE_INTERVAL });
  }
  // Cold months of the retention pass go to the configured object store; its artifacts past their class expire from it.
  const objectStore = config.WORKER_ROLES.includes('sessions') ? objectStoreFromConfig(config) : undefined;
  // A missing bucket or an unwritable directory stops the start, naming the variable (not a session's first upload).
  if (objectStore || host) await checkObjectStore(objectStore ?? objectStoreFromConfig(config), config);
  const workers = await createWorkers({ config, connection, db, codec, router, host, bundle, metrics, notify: slackNotifyDeps(config), tracing, artifacts: host || objectStore ? artifactsFromConfig(config, db, objectStore ? { store: objectStore } : {}) : undefined, objectStore });

  let draining = false;
  const readiness = new ReadinessChecker({
    temporal: () => connection.healthService.check({}),
    postgres: () => sql`select 1`.execute(db),
    ...(host ? { docker: () => host.ping() } : {}),
  });
  const health = await listen(
    createHealthApp({ readiness, registry: metrics.registry, draining: () => draining }),
    config.WORKER_HEALTH_HOST,
    config.WORKER_HEALTH_PORT,
  );
  const stop = (signal: string) => {
    if (draining) return;
    draining = true;
    logger.info('draining', { signal });
    workers.shutdown();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  logger.info('worker started', { taskQueues: workers.taskQueues, healthPort: health.port, namespace: config.TEMPORAL_NAMESPACE });
  try {
    await workers.run();
  } finally {
    // Idle warm containers go; claimed ones stay for their sessions (a restarted worker serves them).
    await host?.stop({ drainIdle: true });
    await client.connection.close();
    await closeServer(health.server);
    await connection.close();
    models.close();
    await db.destroy();
    await tracing?.shutdown();
    logger.info('worker stopped');
  }
}

main().catch((err: unknown) => {
  logger.error('worker failed', { err });
  process.exit(1);
});

/**
 * One worker process, wired from the configuration: database (migrated),
 * model router, Docker sandbox host (role `sandbox`), Temporal connections,
 * the maintenance schedule (role `sessions`), the workers and their
 * /healthz, /readyz and /metrics. temporal/worker-main.ts builds it, starts it
 * and stops it on a signal.
 */
import Docker from 'dockerode';
import type { Env } from '../config/index.js';
import { requireDatabaseUrl } from '../config/index.js';
import { createDb } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { dependencyChecks, ReadinessChecker } from '../observability/health.js';
import { closeServer, createHealthApp, listen } from '../observability/health-server.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { temporalLogger } from '../observability/temporal-logger.js';
import type { Tracing } from '../observability/tracing.js';
import { createRouterFromConfig } from '../router/create.js';
import { sandboxHostFromConfig } from '../sandbox/from-config.js';
import { temporalOrphanCheck } from '../sandbox/lease-check.js';
import { slackNotifyDeps } from '../slack/notify-deps.js';
import { artifactsFromConfig, checkObjectStore, objectStoreFromConfig } from '../storage/from-config.js';
import { createTemporalClient, createWorkerConnection } from './client.js';
import { payloadCodecFromConfig } from './codec/from-config.js';
import { ensureMaintenanceSchedule } from './schedules.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { createWorkers, type WorkerSet } from './worker.js';
import { loadWorkflowBundle } from './worker-options.js';

export interface WorkerProcessOptions {
  readonly logger: Logger;
  /** Where workflow spans go (tracing is off without it); shut down by close(). */
  readonly tracing?: Tracing | undefined;
}

export interface BuiltWorker {
  readonly workers: WorkerSet;
  /** The port of /healthz, /readyz and /metrics (WORKER_HEALTH_PORT; 0 picks one). */
  readonly healthPort: number;
  /** Polls the task queues until stop() (or a fatal worker error), then closes everything it opened. */
  run(): Promise<void>;
  /** Drains (once; `signal` is logged): /readyz turns 503, polling stops, in-flight activities finish within the grace time. */
  stop(signal: string): void;
}

/** Builds and checks everything a worker needs; a bad policy, Docker, image or bucket stops it here, naming the variable. */
export async function buildWorker(config: Readonly<Env>, options: WorkerProcessOptions): Promise<BuiltWorker> {
  const { logger, tracing } = options;
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
  const artifacts = host || objectStore ? artifactsFromConfig(config, db, objectStore ? { store: objectStore } : {}) : undefined;
  const workers = await createWorkers({ config, connection, db, codec, router, host, bundle, metrics, notify: slackNotifyDeps(config), tracing, artifacts, objectStore });

  let draining = false;
  const readiness = new ReadinessChecker(
    dependencyChecks({ temporal: () => connection.healthService.check({}), db, docker: host && (() => host.ping()) }),
  );
  const health = await listen(
    createHealthApp({ readiness, registry: metrics.registry, draining: () => draining }),
    config.WORKER_HEALTH_HOST,
    config.WORKER_HEALTH_PORT,
  );
  return {
    workers,
    healthPort: health.port,
    async run() {
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
      }
    },
    stop(signal) {
      if (draining) return;
      draining = true;
      logger.info('draining', { signal });
      workers.shutdown();
    },
  };
}

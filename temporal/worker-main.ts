/**
 * `npm run worker`: one worker process. Parses the configuration, migrates the
 * database, checks Docker, registers search attributes, then polls its task
 * queues until SIGINT/SIGTERM, when it drains (in-flight activities finish
 * within the grace time) and exits.
 */
import Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { Runtime } from '@temporalio/worker';
import { loadConfigOrExit, requireDatabaseUrl } from '../config/index.js';
import { createDb } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { sql } from 'kysely';
import { ReadinessChecker } from '../observability/health.js';
import { closeServer, createHealthApp, listen } from '../observability/health-server.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { temporalLogger } from '../observability/temporal-logger.js';
import { loadModelPolicy } from '../router/model-policy.js';
import { ModelRouter } from '../router/router.js';
import { DockerSandboxHost } from '../sandbox/docker-host.js';
import { createWorkerConnection } from './client.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { createWorkers } from './worker.js';
import { loadWorkflowBundle } from './worker-options.js';

const config = loadConfigOrExit();
const logger = createLogger({ level: config.LOG_LEVEL, bindings: { service: 'worker', host: config.WORKER_HOST_ID } });
Runtime.install({ logger: temporalLogger(logger.child({ component: 'temporal' })) });

async function main(): Promise<void> {
  const modelPolicy = loadModelPolicy(config.MODEL_POLICY_FILE);
  const db = createDb({ url: requireDatabaseUrl(config), poolMax: config.DATABASE_POOL_MAX, applicationName: 'kortix-worker' });
  await migrateToLatest(db);
  const metrics = createMetrics({ service: 'worker' });
  const router = new ModelRouter({ policy: modelPolicy, env: config, timeoutMs: config.LLM_TIMEOUT_MS });
  const docker = new Docker({ socketPath: config.DOCKER_SOCKET });
  const host = config.WORKER_ROLES.includes('sandbox')
    ? new DockerSandboxHost({
        docker,
        hostId: config.WORKER_HOST_ID,
        pool: config.TASK_QUEUE_PREFIX,
        image: config.SANDBOX_IMAGE,
        limits: {
          memoryMb: config.SANDBOX_MEMORY_MB,
          cpus: config.SANDBOX_CPUS,
          pidsLimit: config.SANDBOX_PIDS_LIMIT,
          workspaceMb: config.SANDBOX_WORKSPACE_MB,
          tmpMb: 64,
        },
        seccompProfile: config.SANDBOX_SECCOMP_PROFILE ? readFileSync(config.SANDBOX_SECCOMP_PROFILE, 'utf8') : undefined,
        outputLimitBytes: config.SANDBOX_OUTPUT_LIMIT_BYTES,
      })
    : undefined;
  if (host) {
    await host.ping().catch((err: unknown) => {
      throw new Error(`Docker engine not reachable at ${config.DOCKER_SOCKET} (DOCKER_SOCKET): ${(err as Error).message}`);
    });
    await docker.getImage(config.SANDBOX_IMAGE).inspect().catch(() => {
      throw new Error(`sandbox image ${config.SANDBOX_IMAGE} (SANDBOX_IMAGE) is missing: run sandbox/build-image.sh`);
    });
  }
  const connection = await createWorkerConnection(config);
  await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
  const bundle = await loadWorkflowBundle({ bundlePath: config.WORKFLOW_BUNDLE_PATH, logger: temporalLogger(logger) });
  const workers = await createWorkers({ config, connection, db, router, host, bundle, metrics });

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
    await closeServer(health.server);
    await connection.close();
    await db.destroy();
    logger.info('worker stopped');
  }
}

main().catch((err: unknown) => {
  logger.error('worker failed', { err });
  process.exit(1);
});

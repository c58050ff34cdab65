/**
 * One worker process, wired from the configuration: database (migrated),
 * model router, Docker sandbox host (role `sandbox`), Temporal connections,
 * the maintenance schedule (role `sessions`), the workers and their
 * /healthz, /readyz and /metrics. The one wiring path of workers:
 * temporal/worker-main.ts builds it, starts it and stops it on a signal, and
 * the test stack (test/support/stack.ts) runs the same in-process.
 *
 * The workers themselves: role `sessions` polls the sessions queue
 * (workflows, model calls, store activities); role `sandbox` polls the shared
 * sandbox queue (claims) and this host's own queue (exec, files, release).
 */
import { Worker } from '@temporalio/worker';
import {
  createAgentActivities,
  createMaintenanceActivities,
  createNotifyActivities,
  createSandboxActivities,
  createSessionActivities,
  createVoteActivities,
} from '../activities/index.js';
import { withFailFast } from '../activities/permanent-errors.js';
import type { HostQueueActivities, SandboxQueueActivities, SessionsQueueActivities } from '../activities/queues.js';
import type { Env } from '../config/index.js';
import { requireDatabaseUrl, voteSigningKey } from '../config/index.js';
import { createDb } from '../db/client.js';
import { postgresRouterStores } from '../db/llm-ledger.js';
import { migrateToLatest } from '../db/migrate.js';
import { dependencyChecks, ReadinessChecker } from '../observability/health.js';
import { closeServer, createHealthApp, listen } from '../observability/health-server.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { temporalLogger } from '../observability/temporal-logger.js';
import type { Tracing } from '../observability/tracing.js';
import { createRouterFromConfig } from '../router/create.js';
import type { DockerSandboxHost } from '../sandbox/docker-host.js';
import { sandboxHostFromConfig } from '../sandbox/from-config.js';
import { temporalOrphanCheck } from '../sandbox/lease-check.js';
import { defaultTenantLimits } from '../db/tenant-limits.js';
import { secretProviderIfConfigured } from '../secrets/from-config.js';
import { slackNotifyDeps } from '../slack/notify-deps.js';
import { artifactsFromConfig, checkObjectStore, objectStoreFromConfig } from '../storage/from-config.js';
import { createTemporalClient, createWorkerConnection } from './client.js';
import { payloadCodecFromConfig } from './codec/from-config.js';
import { ensureMaintenanceSchedule } from './schedules.js';
import { sandboxHostQueue, taskQueues } from '../domain/temporal-names.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { sharedWorkerOptions, type WorkerDeps, type WorkerSet } from './worker.js';
import { withWorkflowStackTraces } from './workflow-stack-traces.js';
import { loadWorkflowBundle, workflowBundleAt } from './worker-options.js';

export interface WorkerProcessOptions {
  readonly logger: Logger;
  /** Where workflow spans go (tracing is off without it); whoever started it shuts it down. */
  readonly tracing?: Tracing | undefined;
  /** The test stack's own (no default process metrics in every stack of a test file). */
  readonly metrics?: Metrics | undefined;
  /**
   * The sandbox host, built by the caller (the test stack, whose tests use it directly); absent: one
   * from the configuration. Either way this worker checks it, starts it and stops it (role `sandbox`).
   */
  readonly host?: DockerSandboxHost | undefined;
  /** How long in-flight activities get to finish once stop() is called (default 30s; the test stack's 2s). */
  readonly shutdownGraceTime?: string | number | undefined;
  /** Off for the test stack only: migrations and search attributes (the suite's global setup did them once). */
  readonly startChecks?: boolean | undefined;
  /**
   * Off for the test stack only: a sessions worker keeps the maintenance schedule in line with
   * MAINTENANCE_INTERVAL; test stacks would leave one schedule per task-queue prefix behind
   * (test/integration/maintenance.test.ts makes its own).
   */
  readonly maintenanceSchedule?: boolean | undefined;
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
  const startChecks = options.startChecks ?? true;
  const db = createDb({ url: requireDatabaseUrl(config), poolMax: config.DATABASE_POOL_MAX, applicationName: 'kortix-worker' });
  const metrics = options.metrics ?? createMetrics({ service: 'worker' });
  // Before migrating: a bad model policy stops the worker at once, naming file, line and path.
  const models = createRouterFromConfig({ config, stores: postgresRouterStores(db), metrics, logger });
  const router = models.router;
  if (startChecks) await migrateToLatest(db);
  // dockerode only where the sandbox role runs: it loads ssh2, whose WebAssembly memory alone is 16 MB of RSS.
  const docker = config.WORKER_ROLES.includes('sandbox') ? new (await import('dockerode')).default({ socketPath: config.DOCKER_SOCKET }) : undefined;
  // The sandbox pool asks Temporal whether a claimed container's session still holds it (orphans are removed);
  // a sessions worker keeps the maintenance schedule in line with the configuration.
  const codec = payloadCodecFromConfig(config, db, (err) => logger.warn('payload keyring not reloaded', { err }));
  const client = await createTemporalClient(config, { codec });
  const host = docker
    ? (options.host ??
      sandboxHostFromConfig(config, {
        docker,
        metrics,
        logger: logger.child({ component: 'sandbox' }),
        isOrphan: temporalOrphanCheck(client, config.WORKER_HOST_ID),
      }))
    : undefined;
  if (host && docker) {
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
  if (startChecks) await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
  const sessionsRole = config.WORKER_ROLES.includes('sessions');
  // A prebuilt bundle by path (the SDK reads it), else a fresh one; the sandbox role runs no workflow.
  const prebuilt = config.WORKFLOW_BUNDLE_PATH;
  const bundle = sessionsRole ? await (prebuilt ? workflowBundleAt(prebuilt) : loadWorkflowBundle({ logger: temporalLogger(logger) })) : undefined;
  if (sessionsRole && (options.maintenanceSchedule ?? true)) {
    const change = await ensureMaintenanceSchedule(client, { prefix: config.TASK_QUEUE_PREFIX, intervalMs: config.MAINTENANCE_INTERVAL });
    logger.info('maintenance schedule', { change, intervalMs: config.MAINTENANCE_INTERVAL });
  }
  // Cold months of the retention pass go to the configured object store; its artifacts past their class expire from it.
  const objectStore = sessionsRole ? objectStoreFromConfig(config) : undefined;
  // A missing bucket or an unwritable directory stops the start, naming the variable (not a session's first upload).
  if (objectStore || host) await checkObjectStore(objectStore ?? objectStoreFromConfig(config), config);
  const artifacts = host || objectStore ? artifactsFromConfig(config, db, objectStore ? { store: objectStore } : {}) : undefined;
  const workers = await createWorkers({
    config,
    connection,
    db,
    codec,
    router,
    host,
    bundle,
    metrics,
    notify: slackNotifyDeps(config),
    tracing,
    artifacts,
    objectStore,
    shutdownGraceTime: options.shutdownGraceTime,
    logger,
  });

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

/** The role's workers on their queues, each with the activities it serves. */
async function createWorkers(deps: WorkerDeps): Promise<WorkerSet> {
  const { config } = deps;
  const prefix = config.TASK_QUEUE_PREFIX;
  const queues = taskQueues(prefix);
  const hostQueue = sandboxHostQueue(prefix, config.WORKER_HOST_ID);
  const common = sharedWorkerOptions(deps);
  const workers: Worker[] = [];
  const artifacts = deps.artifacts;

  if (config.WORKER_ROLES.includes('sessions')) {
    if (!deps.bundle) throw new Error('the sessions role needs the workflow bundle');
    const create = () =>
      Worker.create({
        ...common,
        taskQueue: queues.sessions,
        workflowBundle: deps.bundle,
        activities: {
          ...createSessionActivities({ db: deps.db, router: deps.router, metrics: deps.metrics }),
          ...createNotifyActivities({ db: deps.db, ...deps.notify }),
          ...createMaintenanceActivities({
            db: deps.db,
            llmCallsRetentionMonths: config.LLM_CALLS_RETENTION_MONTHS,
            // Artifacts past their class expire in the same pass (no artifacts configured: none to expire).
            retention: deps.objectStore ? { store: deps.objectStore, config, expireArtifacts: artifacts && ((now, held) => artifacts.expire(now, held)) } : undefined,
          }),
          // The session workflow has each vote's proof checked here.
          ...createVoteActivities({ key: voteSigningKey(config) }),
          // Promotion gates (workflows/agent-promotion.ts) write their state and move labels here.
          ...createAgentActivities({ db: deps.db, slack: deps.notify.slack, links: deps.notify.links }),
        } satisfies SessionsQueueActivities,
      });
    workers.push(await withWorkflowStackTraces(config.WORKER_WORKFLOW_STACK_TRACES, create));
  }
  if (config.WORKER_ROLES.includes('sandbox')) {
    if (!deps.host) throw new Error('the sandbox role needs a Docker sandbox host');
    const sandbox = createSandboxActivities({ db: deps.db, host: deps.host, hostQueue, secrets: secretProviderIfConfigured(config, { cached: true }), metrics: deps.metrics, tenantLimits: defaultTenantLimits(config), artifacts: deps.artifacts, evictIdleMs: config.SANDBOX_POOL_EVICT_IDLE, logger: deps.logger });
    workers.push(
      // Errors no retry can heal fail at once (activities/permanent-errors.ts), as the session activities do.
      await Worker.create({ ...common, taskQueue: queues.sandbox, activities: withFailFast({ claimSandbox: sandbox.claimSandbox } satisfies SandboxQueueActivities) }),
      await Worker.create({
        ...common,
        taskQueue: hostQueue,
        activities: withFailFast({ execTool: sandbox.execTool, releaseSandbox: sandbox.releaseSandbox, parkSandbox: sandbox.parkSandbox } satisfies HostQueueActivities),
      }),
    );
  }

  return {
    workers,
    taskQueues: workers.map((w) => w.options.taskQueue),
    run: async () => {
      await Promise.all(workers.map((w) => w.run()));
    },
    shutdown: () => {
      for (const w of workers) {
        if (w.getState() === 'RUNNING') w.shutdown();
      }
    },
  };
}

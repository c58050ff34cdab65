/**
 * The API process, wired from the configuration: policies (a bad one stops
 * the build naming file and line), database (migrated), Temporal client and
 * payload codec, LISTEN/NOTIFY, metrics, readiness, the object store and the
 * Hono app. api/main.ts builds it, starts it and stops it on a signal.
 */
import Docker from 'dockerode';
import type { ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import type { Hono } from 'hono';
import { requireDatabaseUrl, type Env } from '../config/index.js';
import { createDb, type Db } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { apiCollectorSources, registerApiCollectors, reportedQueues } from './collectors.js';
import { dependencyChecks, ReadinessChecker, type Check, type DependencyName } from '../observability/health.js';
import { closeServer, listen } from '../observability/health-server.js';
import type { Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { PolicyStore } from '../policies/load.js';
import { modelPolicyFromConfig } from '../router/create.js';
import { SlackUserMap } from '../slack/users.js';
import type { Artifacts } from '../storage/artifacts.js';
import { artifactsFromConfig, checkObjectStore, objectStoreFromConfig } from '../storage/from-config.js';
import { createTemporalClient } from '../temporal/client.js';
import { payloadCodecFromConfig } from '../temporal/codec/from-config.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import type { SessionTuning } from '../workflows/definitions.js';
import { createApp } from './app.js';
import { EventNotifier } from './event-notifier.js';
import { SessionStarter } from './session-starter.js';
import { taskQueues } from '../domain/temporal-names.js';

/** How often the API looks for starts whose lease ran out (a stopped process's, or failed ones due again). */
const START_SWEEP_EVERY_MS = 2_000;

export interface ApiBuildOptions {
  readonly logger: Logger;
  /** The test stack's own (no default process metrics in every stack of a test file). */
  readonly metrics?: Metrics | undefined;
  /** Readiness checks in place of Temporal, Postgres and Docker (a test's failing dependency). */
  readonly readiness?: Partial<Record<DependencyName, Check>> | undefined;
  /** In place of SESSION_HEARTBEAT_TIMEOUT / SESSION_SANDBOX_SCHEDULE_TO_START (a test's short timeouts). */
  readonly tuning?: SessionTuning | undefined;
  /**
   * Off for the test stack only: the DEFAULT_POLICY check (its policies directories need not hold one),
   * migrations and search attributes (the suite's global setup did them once).
   */
  readonly startChecks?: boolean | undefined;
}

export interface BuiltApi {
  readonly app: Hono;
  readonly db: Db;
  readonly temporal: Client;
  readonly policies: PolicyStore;
  readonly artifacts: Artifacts;
  /** Listens on API_HOST:API_PORT (0 picks a port); resolves with the bound port. */
  start(): Promise<number>;
  /** Drains (once): /readyz turns 503, in-flight requests finish, then every connection closes. */
  stop(): Promise<void>;
}

/** Builds and checks everything the API needs; a bad policy, a missing bucket or an unreachable service stops it here. */
export async function buildApi(config: Readonly<Env>, options: ApiBuildOptions): Promise<BuiltApi> {
  const { logger } = options;
  const startChecks = options.startChecks ?? true;
  const policies = new PolicyStore(config.POLICIES_DIR);
  if (startChecks && !policies.get(config.DEFAULT_POLICY)) {
    throw new Error(`DEFAULT_POLICY: no policy "${config.DEFAULT_POLICY}" in ${config.POLICIES_DIR}`);
  }
  const databaseUrl = requireDatabaseUrl(config);
  const db = createDb({ url: databaseUrl, poolMax: config.DATABASE_POOL_MAX, applicationName: 'kortix-api' });
  if (startChecks) await migrateToLatest(db);
  // One payload codec for the API's client and its codec endpoint (/v1/codec): the same keys, the same cache.
  const codec = payloadCodecFromConfig(config, db, (err) => logger.warn('payload keyring not reloaded', { err }));
  const temporal = await createTemporalClient(config, { codec });
  if (startChecks) await ensureSearchAttributes(temporal.connection, config.TEMPORAL_NAMESPACE);
  const notifier = new EventNotifier(databaseUrl);
  await notifier.start();
  const docker = new Docker({ socketPath: config.DOCKER_SOCKET });
  const metrics = options.metrics ?? createMetrics({ service: 'api' });
  registerApiCollectors(metrics.registry, {
    sources: apiCollectorSources({ db, temporal, namespace: config.TEMPORAL_NAMESPACE }),
    queues: reportedQueues(config.TASK_QUEUE_PREFIX),
    logger,
  });
  const readiness = new ReadinessChecker(
    options.readiness ??
    dependencyChecks({
      temporal: () => temporal.workflowService.getSystemInfo({}),
      db,
      docker: config.READINESS_CHECK_DOCKER ? () => docker.ping() : undefined,
    }),
  );
  let draining = false;
  const slack = { signingSecret: config.SLACK_SIGNING_SECRET, users: SlackUserMap.load(config.SLACK_USERS_FILE) };
  // The workers' model policy (watched in dev like theirs): an unknown `model` is a 400, not a failed session.
  const models = modelPolicyFromConfig(config, logger);
  // Set only when configured: sessions otherwise keep the workflow's defaults.
  const tuning = options.tuning ?? {
    ...(config.SESSION_HEARTBEAT_TIMEOUT ? { heartbeatTimeoutMs: config.SESSION_HEARTBEAT_TIMEOUT } : {}),
    ...(config.SESSION_SANDBOX_SCHEDULE_TO_START ? { sandboxScheduleToStartMs: config.SESSION_SANDBOX_SCHEDULE_TO_START } : {}),
    ...(config.SESSION_LOCAL_MODEL_CALLS ? { localModelCalls: true } : {}),
    ...(config.SESSION_SANDBOX_PARK_AFTER > 0 ? { sandboxParkAfterMs: config.SESSION_SANDBOX_PARK_AFTER } : {}),
  };
  // A missing bucket or an unwritable directory stops the start, naming the variable (not a first download).
  const objectStore = objectStoreFromConfig(config);
  await checkObjectStore(objectStore, config);
  const artifacts = artifactsFromConfig(config, db, { store: objectStore });
  // Workflow starts after the POST's answer; this process also sweeps the starts other processes left.
  const starter = new SessionStarter({
    db,
    temporal,
    sessionsQueue: taskQueues(config.TASK_QUEUE_PREFIX).sessions,
    codec,
    deadlineMs: config.SESSION_START_DEADLINE,
    logger,
    metrics,
  });
  const app = createApp({ config, db, temporal, codec, policies, notifier, metrics, readiness, logger, slack, tuning, modelPolicy: models.policy, draining: () => draining, artifacts, starter });
  let stopSweeps: (() => void) | undefined;

  let server: ServerType | undefined;
  return {
    app,
    db,
    temporal,
    policies,
    artifacts,
    async start() {
      const listening = await listen(app, config.API_HOST, config.API_PORT);
      server = listening.server;
      stopSweeps = starter.sweepEvery(START_SWEEP_EVERY_MS);
      return listening.port;
    },
    async stop() {
      if (draining) return;
      draining = true;
      models.stop?.();
      await notifier.close();
      if (server) await closeServer(server);
      stopSweeps?.();
      // Starts under way finish; one that does not is left to another process's sweep.
      await starter.drain();
      await temporal.connection.close();
      await db.destroy();
    },
  };
}

/**
 * `npm run api`: the HTTP API on API_HOST:API_PORT. Migrates the database,
 * loads every policy (a bad one stops startup naming the file and line), and
 * drains on SIGINT/SIGTERM: /readyz turns 503, in-flight requests finish.
 */
import Docker from 'dockerode';
import { loadConfigOrExit, requireDatabaseUrl } from '../config/index.js';
import { createDb } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { apiCollectorSources, registerApiCollectors, reportedQueues } from '../observability/api-collectors.js';
import { ReadinessChecker } from '../observability/health.js';
import { closeServer, listen } from '../observability/health-server.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { startTracing } from '../observability/tracing.js';
import { PolicyStore } from '../policies/load.js';
import { modelPolicyFromConfig } from '../router/create.js';
import { createTemporalClient } from '../temporal/client.js';
import { payloadCodecFromConfig } from '../temporal/codec/from-config.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { apiReadinessChecks, createApp } from './app.js';
import { SlackUserMap } from '../slack/users.js';
import { EventNotifier } from './event-notifier.js';
import { artifactsFromConfig, checkObjectStore, objectStoreFromConfig } from '../storage/from-config.js';

const config = loadConfigOrExit();
const logger = createLogger({ level: config.LOG_LEVEL, bindings: { service: 'api' } });
const tracing = startTracing({ service: 'kortix-api', endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });

async function main(): Promise<void> {
  const policies = new PolicyStore(config.POLICIES_DIR);
  if (!policies.get(config.DEFAULT_POLICY)) {
    throw new Error(`DEFAULT_POLICY: no policy "${config.DEFAULT_POLICY}" in ${config.POLICIES_DIR}`);
  }
  const databaseUrl = requireDatabaseUrl(config);
  const db = createDb({ url: databaseUrl, poolMax: config.DATABASE_POOL_MAX, applicationName: 'kortix-api' });
  await migrateToLatest(db);
  // One payload codec for the API's client and its codec endpoint (/v1/codec): the same keys, the same cache.
  const codec = payloadCodecFromConfig(config, db, (err) => logger.warn('payload keyring not reloaded', { err }));
  const temporal = await createTemporalClient(config, { codec });
  await ensureSearchAttributes(temporal.connection, config.TEMPORAL_NAMESPACE);
  const notifier = new EventNotifier(databaseUrl);
  await notifier.start();
  const docker = new Docker({ socketPath: config.DOCKER_SOCKET });
  const metrics = createMetrics({ service: 'api' });
  registerApiCollectors(metrics.registry, {
    sources: apiCollectorSources({ db, temporal, namespace: config.TEMPORAL_NAMESPACE }),
    queues: reportedQueues(config.TASK_QUEUE_PREFIX),
    logger,
  });
  const readiness = new ReadinessChecker(
    apiReadinessChecks({ db, temporal, ...(config.READINESS_CHECK_DOCKER ? { dockerPing: () => docker.ping() } : {}) }),
  );
  let draining = false;
  const slack = { signingSecret: config.SLACK_SIGNING_SECRET, users: SlackUserMap.load(config.SLACK_USERS_FILE) };
  // The workers' model policy (watched in dev like theirs): an unknown `model` is a 400, not a failed session.
  const models = modelPolicyFromConfig(config, logger);
  // Set only when configured: sessions otherwise keep the workflow's defaults.
  const tuning = {
    ...(config.SESSION_HEARTBEAT_TIMEOUT ? { heartbeatTimeoutMs: config.SESSION_HEARTBEAT_TIMEOUT } : {}),
    ...(config.SESSION_SANDBOX_SCHEDULE_TO_START ? { sandboxScheduleToStartMs: config.SESSION_SANDBOX_SCHEDULE_TO_START } : {}),
  };
  // A missing bucket or an unwritable directory stops the start, naming the variable (not a first download).
  const objectStore = objectStoreFromConfig(config);
  await checkObjectStore(objectStore, config);
  const artifacts = artifactsFromConfig(config, db, { store: objectStore });
  const app = createApp({ config, db, temporal, codec, policies, notifier, metrics, readiness, logger, slack, tuning, modelPolicy: models.policy, draining: () => draining, artifacts });
  const { server, port } = await listen(app, config.API_HOST, config.API_PORT);
  logger.info('api listening', { url: `http://${config.API_HOST}:${port}`, policies: policies.names() });

  const stop = async (signal: string) => {
    if (draining) return;
    draining = true;
    logger.info('draining', { signal });
    models.stop?.();
    await notifier.close();
    await closeServer(server);
    await temporal.connection.close();
    await db.destroy();
    await tracing?.shutdown();
    logger.info('api stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  logger.error('api failed to start', { err });
  process.exit(1);
});

/**
 * The workers of one process. Role `sessions` polls the sessions queue
 * (workflows, model calls, store activities); role `sandbox` polls the shared
 * sandbox queue (claims) and this host's own queue (exec, files, release).
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import {
  createAgentActivities,
  createMaintenanceActivities,
  createNotifyActivities,
  createSandboxActivities,
  createSessionActivities,
  createVoteActivities,
  type NotifyActivityDeps,
} from '../activities/index.js';
import { withFailFast } from '../activities/permanent-errors.js';
import type { HostQueueActivities, SandboxQueueActivities, SessionsQueueActivities } from '../activities/queues.js';
import { voteSigningKey, type Env } from '../config/index.js';
import type { RetentionConfig } from '../config/retention.js';
import type { Db } from '../db/client.js';
import type { Artifacts } from '../storage/artifacts.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Metrics } from '../observability/metrics.js';
import type { ModelRouter } from '../router/router.js';
import type { DockerSandboxHost } from '../sandbox/docker-host.js';
import { sandboxHostQueue, taskQueues } from './names.js';
import { secretProviderIfConfigured } from '../secrets/from-config.js';
import { defaultTenantLimits, type TenantLimitConfig } from '../db/tenant-limits.js';
import type { Tracing } from '../observability/tracing.js';
import { kortixDataConverter, payloadCodecFromConfig, type CodecConfig } from './codec/from-config.js';
import type { TenantPayloadCodec } from './codec/payload-codec.js';
import { objectStoreFromConfig, type ObjectStoreConfig } from '../storage/from-config.js';
import { payloadStorage } from './payload-storage.js';
import { workerInterceptors, workerSinks, type WorkflowBundle } from './worker-options.js';

export interface WorkerDeps {
  readonly config: Pick<
    Env,
    'TEMPORAL_NAMESPACE' | 'TASK_QUEUE_PREFIX' | 'WORKER_HOST_ID' | 'WORKER_ROLES' | 'WORKER_MAX_CONCURRENT_ACTIVITIES' | 'WORKER_MAX_CACHED_WORKFLOWS' | 'WORKER_POLLERS' | 'LLM_CALLS_RETENTION_MONTHS' | 'VOTE_SIGNING_KEY' | 'TEMPORAL_PAYLOAD_OFFLOAD_BYTES'
  > &
    ObjectStoreConfig &
    RetentionConfig &
    TenantLimitConfig &
    CodecConfig;
  readonly connection: NativeConnection;
  readonly db: Db;
  readonly router: ModelRouter;
  /** Required for the sandbox role. */
  readonly host?: DockerSandboxHost | undefined;
  readonly bundle: WorkflowBundle;
  /** Where workflow spans go; tracing is off without it. */
  readonly tracing?: Tracing | undefined;
  /** Slack client and links for gate messages (slack/notify-deps.ts). */
  readonly notify: Omit<NotifyActivityDeps, 'db'>;
  readonly metrics?: Metrics | undefined;
  /** The object store (storage/from-config.ts): cold months of the retention pass; without it the pass does nothing. */
  readonly objectStore?: ObjectStore | undefined;
  /** Tool output beyond the cap, saved results, workspace tarballs (storage/artifacts.ts), for the sandbox role. */
  readonly artifacts?: Artifacts | undefined;
  /** How long in-flight activities get to finish at shutdown. */
  readonly shutdownGraceTime?: string | number;
  /** The payload codec (default: from the configuration, tenants looked up in `db`). */
  readonly codec?: TenantPayloadCodec | undefined;
}

export interface WorkerSet {
  readonly workers: readonly Worker[];
  readonly taskQueues: readonly string[];
  /** Runs until shutdown() (or a fatal worker error). */
  run(): Promise<void>;
  /** Stops polling, lets in-flight activities finish within the grace time. */
  shutdown(): void;
}

/** The options every worker of the process shares (bench/throughput.ts builds its floor worker with them too). */
export function sharedWorkerOptions(deps: Pick<WorkerDeps, 'config' | 'connection' | 'db' | 'codec' | 'objectStore' | 'artifacts' | 'tracing' | 'shutdownGraceTime'>) {
  const { config, connection } = deps;
  const identity = `${config.WORKER_HOST_ID}@${process.pid}`;
  return {
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    identity,
    // Payloads encrypted per tenant (temporal/codec/payload-codec.ts).
    // Large payloads by reference (temporal/payload-storage.ts): every role reads them, sessions and sandbox roles write them.
    dataConverter: kortixDataConverter(deps.codec ?? payloadCodecFromConfig(config, deps.db), payloadStorage(config, deps.objectStore ?? deps.artifacts?.store ?? objectStoreFromConfig(config))),
    interceptors: workerInterceptors(),
    sinks: workerSinks(deps.tracing),
    shutdownGraceTime: deps.shutdownGraceTime ?? '30s',
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    ...(config.WORKER_MAX_CACHED_WORKFLOWS ? { maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS } : {}),
    ...(config.WORKER_POLLERS === 'autoscaling'
      ? { workflowTaskPollerBehavior: { type: 'autoscaling' as const }, activityTaskPollerBehavior: { type: 'autoscaling' as const } }
      : {}),
  };
}

export async function createWorkers(deps: WorkerDeps): Promise<WorkerSet> {
  const { config } = deps;
  const prefix = config.TASK_QUEUE_PREFIX;
  const queues = taskQueues(prefix);
  const hostQueue = sandboxHostQueue(prefix, config.WORKER_HOST_ID);
  const common = sharedWorkerOptions(deps);
  const workers: Worker[] = [];
  const artifacts = deps.artifacts;

  if (config.WORKER_ROLES.includes('sessions')) {
    workers.push(
      await Worker.create({
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
      }),
    );
  }
  if (config.WORKER_ROLES.includes('sandbox')) {
    if (!deps.host) throw new Error('the sandbox role needs a Docker sandbox host');
    const sandbox = createSandboxActivities({ db: deps.db, host: deps.host, hostQueue, secrets: secretProviderIfConfigured(config, { cached: true }), metrics: deps.metrics, tenantLimits: defaultTenantLimits(config), artifacts: deps.artifacts });
    workers.push(
      // Errors no retry can heal fail at once (activities/permanent-errors.ts), as the session activities do.
      await Worker.create({ ...common, taskQueue: queues.sandbox, activities: withFailFast({ claimSandbox: sandbox.claimSandbox } satisfies SandboxQueueActivities) }),
      await Worker.create({
        ...common,
        taskQueue: hostQueue,
        activities: withFailFast({ execTool: sandbox.execTool, releaseSandbox: sandbox.releaseSandbox } satisfies HostQueueActivities),
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

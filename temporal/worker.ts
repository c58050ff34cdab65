/**
 * What the workers of one process are built from (WorkerDeps) and share
 * (sharedWorkerOptions: connection, data converter, interceptors, limits),
 * and what running them looks like (WorkerSet). Which activities poll which
 * queue is wired in one place, temporal/build-worker.ts.
 */
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { NotifyActivityDeps } from '../activities/index.js';
import type { Env } from '../config/index.js';
import type { RetentionConfig } from '../config/retention.js';
import type { Db } from '../db/client.js';
import type { Artifacts } from '../storage/artifacts.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Metrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { ModelRouter } from '../router/router.js';
import type { DockerSandboxHost } from '../sandbox/docker-host.js';
import type { TenantLimitConfig } from '../db/tenant-limits.js';
import type { Tracing } from '../observability/tracing.js';
import { kortixDataConverter, payloadCodecFromConfig, type CodecConfig } from './codec/from-config.js';
import type { TenantPayloadCodec } from './codec/payload-codec.js';
import { objectStoreFromConfig, type ObjectStoreConfig } from '../storage/from-config.js';
import { payloadStorage } from './payload-storage.js';
import { workerInterceptors, workerSinks, type WorkflowBundle } from './worker-options.js';

export interface WorkerDeps {
  readonly config: Pick<
    Env,
    'TEMPORAL_NAMESPACE' | 'TASK_QUEUE_PREFIX' | 'WORKER_HOST_ID' | 'WORKER_ROLES' | 'WORKER_MAX_CONCURRENT_ACTIVITIES' | 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS' | 'WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES' | 'WORKER_MAX_CACHED_WORKFLOWS' | 'WORKER_POLLERS' | 'WORKER_WORKFLOW_STACK_TRACES' | 'LLM_CALLS_RETENTION_MONTHS' | 'VOTE_SIGNING_KEY' | 'TEMPORAL_PAYLOAD_OFFLOAD_BYTES' | 'SANDBOX_POOL_EVICT_IDLE'
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
  /** The workflows' bundle: the sessions role only (the sandbox role runs no workflow, and keeps no bundle in memory). */
  readonly bundle?: WorkflowBundle | { codePath: string } | undefined;
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
  readonly shutdownGraceTime?: string | number | undefined;
  /** The payload codec (default: from the configuration, tenants looked up in `db`). */
  readonly codec?: TenantPayloadCodec | undefined;
  readonly logger?: Logger | undefined;
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
    ...(config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS ? { maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS } : {}),
    ...(config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES ? { maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES } : {}),
    ...(config.WORKER_MAX_CACHED_WORKFLOWS ? { maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS } : {}),
    ...(config.WORKER_POLLERS === 'autoscaling'
      ? { workflowTaskPollerBehavior: { type: 'autoscaling' as const }, activityTaskPollerBehavior: { type: 'autoscaling' as const } }
      : {}),
  };
}

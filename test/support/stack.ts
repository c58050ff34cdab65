/**
 * A whole Kortix stack inside the test process, on the shared real services:
 * workers (own task-queue prefix, so test files never steal each other's
 * tasks), the API app (called in-process with app.request), a tenant with
 * keys, and helpers to wait for things.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { Hono } from 'hono';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { buildApi } from '../../api/build.js';
import { loadConfig, type Env } from '../../config/index.js';
import type { Db } from '../../db/client.js';
import type { Artifacts } from '../../storage/artifacts.js';
import { createApiKey, createTenant } from '../../db/tenants.js';
import type { Check } from '../../observability/health.js';
import { createLogger } from '../../observability/logger.js';
import { createMetrics } from '../../observability/metrics.js';
import type { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { sandboxHostFromConfig } from '../../sandbox/from-config.js';
import { temporalOrphanCheck } from '../../sandbox/lease-check.js';
import type { Tracing } from '../../observability/tracing.js';
import { buildWorker, type BuiltWorker } from '../../temporal/build-worker.js';
import type { WorkerSet } from '../../temporal/worker.js';
import type { SessionTuning } from '../../workflows/definitions.js';
import { removePoolLeftovers } from './leftovers.js';
import type { ObjectStoreUnderTest } from './s3-server.js';
import type { ServiceValues } from './services.js';

export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

// The SDK's own logs at warn level only: the suite's output stays readable.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed in this process
}

export interface StackOptions {
  /** Start in-process workers (default true); fault tests run workers as processes instead. */
  readonly workers?: boolean;
  readonly tuning?: SessionTuning;
  readonly policiesDir?: string;
  readonly hostId?: string;
  readonly env?: Record<string, string>;
  /** Readiness checks of the API (default: Temporal, Postgres, Docker). */
  readonly readiness?: Partial<Record<'temporal' | 'postgres' | 'docker', Check>>;
  /** The tenant's id (default: random); tenant policies under POLICIES_DIR/tenants/<id>/ need a known one. */
  readonly tenantId?: string;
  /** Where workers export workflow spans (the tracing test passes an in-memory processor). */
  readonly tracing?: Tracing;
  /** Another Postgres URL for the stack (a cuttable proxy, in fault tests). */
  readonly databaseUrl?: string;
  /** Where API and workers keep objects (default: the local driver in a temp directory); `env` overrides it. */
  readonly objectStore?: ObjectStoreUnderTest;
}

/** alice: no roles (she starts sessions); bob and dave: admin; carol: security; mallory: another tenant. */
export type Who = 'alice' | 'bob' | 'carol' | 'dave' | 'mallory';

export interface Stack {
  readonly config: Readonly<Env>;
  readonly env: Record<string, string>;
  readonly db: Db;
  readonly temporal: Client;
  readonly app: Hono;
  readonly host: DockerSandboxHost;
  /** What the API and the sandbox host store artifacts with (OBJECT_STORE; a temp directory by default). */
  readonly artifacts: Artifacts;
  readonly tenantId: string;
  readonly keys: Record<Who, string>;
  workers: WorkerSet | undefined;
  /** Calls the API in-process as one of the tenant's principals (mallory belongs to another tenant). */
  api(method: string, path: string, who?: Who, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  startWorkers(): Promise<void>;
  stopWorkers(): Promise<void>;
  close(): Promise<void>;
}

/** The environment a worker process of this stack would get. */
export function stackEnv(services: ServiceValues, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KORTIX_ENV: 'test',
    LOG_LEVEL: 'warn',
    TEMPORAL_ADDRESS: services.temporalAddress,
    DATABASE_URL: services.databaseUrl,
    MOCK_LLM_URL: services.mockLlmUrl,
    SANDBOX_IMAGE: services.sandboxImage,
    TASK_QUEUE_PREFIX: prefix,
    WORKER_HOST_ID: `host-${prefix}`,
    WORKER_HEALTH_PORT: '0',
    // Off: worker processes of the tests would all want the default port (a test that scrapes it sets one).
    WORKER_SDK_METRICS_PORT: '0',
    // No maintenance schedule, as the stack's in-process workers (maintenanceSchedule: false): a worker process would
    // leave one per prefix behind, and its hourly run (at the top of the hour) puts a workflow task in the sessions
    // queue in the middle of whatever test is running (prometheus.test.ts counted a backlog of 2 at 10:00:00).
    MAINTENANCE_INTERVAL: '0',
    SANDBOX_MEMORY_MB: '256',
    SANDBOX_PIDS_LIMIT: '128',
    SANDBOX_WORKSPACE_MB: '64',
    SANDBOX_TMP_MB: '32',
    // The browser starts at a session's first browser action, not in every warm container of every test
    // stack (a browser in 256 MB beside the shell tests' hogs); test/integration/browser.test.ts prewarms.
    SANDBOX_BROWSER: 'lazy',
    WORKFLOW_BUNDLE_PATH: services.bundlePath,
    // Artifacts of every test stack under one temp directory (keys carry the tenant, unique per stack).
    OBJECT_STORE_DIR: join(tmpdir(), 'kortix-test-objects'),
    ...extra,
  };
}

export async function startStack(services: ServiceValues, options: StackOptions = {}): Promise<Stack> {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const env = stackEnv(services, prefix, {
    // The in-process workers' model calls give up sooner than production's 120 s.
    LLM_TIMEOUT_MS: '30000',
    ...(options.hostId ? { WORKER_HOST_ID: options.hostId } : {}),
    ...(options.policiesDir ? { POLICIES_DIR: options.policiesDir } : {}),
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.objectStore?.env,
    ...options.env,
  });
  const config = loadConfig(env);
  // The API as api/main.ts builds it (api/build.ts), without its start checks (the suite's global setup migrated
  // once; a test's policies directory need not hold DEFAULT_POLICY) and called in-process with app.request.
  const api = await buildApi(config, {
    logger: createLogger({ level: 'error' }),
    metrics: createMetrics({ service: 'api', defaultMetrics: false }),
    readiness: options.readiness,
    tuning: options.tuning,
    startChecks: false,
  });
  const { db, temporal, app, artifacts } = api;
  // As the worker builds it, but the stack's own (tests use it directly); its warm pool runs while the in-process workers do.
  const host = sandboxHostFromConfig(config, { docker, isOrphan: temporalOrphanCheck(temporal, config.WORKER_HOST_ID) });

  const tenantId = options.tenantId ?? `tenant-${prefix}`;
  await createTenant(db, { id: tenantId });
  const keys = {} as Record<Who, string>;
  const roles: Record<Exclude<Who, 'mallory'>, string[]> = { alice: [], bob: ['admin'], carol: ['security'], dave: ['admin'] };
  for (const who of ['alice', 'bob', 'carol', 'dave'] as const) {
    keys[who] = (await createApiKey(db, { tenantId, principal: who, roles: roles[who] })).key;
  }
  await createTenant(db, { id: `other-${prefix}` });
  keys.mallory = (await createApiKey(db, { tenantId: `other-${prefix}`, principal: 'mallory' })).key;

  let worker: BuiltWorker | undefined;
  let running: Promise<void> | undefined;
  const stack: Stack = {
    config,
    env,
    db,
    temporal,
    app,
    host,
    artifacts,
    tenantId,
    keys,
    workers: undefined,
    async api(method, path, who = 'alice', body, headers = {}) {
      return app.request(path, {
        method,
        headers: {
          'x-tenant-id': who === 'mallory' ? `other-${prefix}` : tenantId,
          authorization: `Bearer ${keys[who]}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
    },
    async startWorkers() {
      // The worker as temporal/worker-main.ts builds it (temporal/build-worker.ts), on the stack's host, without
      // what the suite's global setup did once and without a maintenance schedule per stack.
      worker = await buildWorker(config, {
        logger: createLogger({ level: 'error' }),
        metrics: createMetrics({ service: 'worker', defaultMetrics: false }),
        tracing: options.tracing,
        host,
        shutdownGraceTime: '2s',
        startChecks: false,
        maintenanceSchedule: false,
      });
      stack.workers = worker.workers;
      running = worker.run();
    },
    async stopWorkers() {
      // Drains as on a signal; run() then stops the host (idle containers go) and closes what the worker opened.
      worker?.stop('test');
      await running?.catch(() => {});
      stack.workers = undefined;
      worker = undefined;
      running = undefined;
    },
    async close() {
      await stack.stopWorkers();
      // Every container of this stack's pool (worker processes' too), their workspace volumes, and every host's egress network.
      await host.stop({ destroy: true });
      await removePoolLeftovers(docker, prefix);
      // The API's LISTEN connection, its Temporal connection and the database pool.
      await api.stop();
    },
  };
  if (options.workers ?? true) await stack.startWorkers();
  return stack;
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

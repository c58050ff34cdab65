/**
 * A whole cluster for a test file (temporal/cluster/cluster.ts) on free ports and
 * databases of its own, with a tenant and a key, and an API client over HTTP to
 * one chosen API instance, shaped like the in-process stack's `api` so the
 * session helpers of test/support/sessions.ts work unchanged.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { REPO_ROOT } from '../../config/index.js';
import { createDb, type Db } from '../../db/client.js';
import { createApiKey, createTenant } from '../../db/tenants.js';
import { startMockLlm, type MockLlmOptions, type MockLlmServer } from '../../mock-llm/server.js';
import { LABELS } from '../../sandbox/container-spec.js';
import { provision } from '../../scripts/lib/provision.js';
import { Cluster } from '../../temporal/cluster/cluster.js';
import { LAYOUT_SPAN, MAX_PORT_BASE } from '../../temporal/cluster/layout.js';
import { removePoolLeftovers } from '../support/leftovers.js';
import { docker } from '../support/stack.js';
import type { Who } from '../support/stack.js';

export interface ApiClient {
  api(method: string, path: string, who?: Who, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

export interface ClusterStack {
  readonly cluster: Cluster;
  readonly db: Db;
  readonly prefix: string;
  readonly mock: MockLlmServer;
  readonly dataDir: string;
  /** The API of instance `index` (0 or 1), as alice of the test tenant. */
  apiOf(index: number): ApiClient;
  /** An API at another address (the platform image's), as alice of the test tenant. */
  apiAt(url: string): ApiClient;
  /** Containers of this cluster's pools (both hosts). */
  containers(): ReturnType<typeof docker.listContainers>;
  close(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((done) => {
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/** A base whose whole layout is free now (random, so parallel runs rarely meet); bench/throughput-server.ts's cluster too. */
export async function freePortBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * ((MAX_PORT_BASE - 20_000) / 100)) * 100;
    const checks = await Promise.all(Array.from({ length: LAYOUT_SPAN }, (_, i) => portFree(base + i)));
    if (checks.every(Boolean)) return base;
  }
  throw new Error('no free range of ports for the cluster');
}

export async function startClusterStack(options: { scenarios?: MockLlmOptions['scenarios']; kortixEnv?: Record<string, string> } = {}): Promise<ClusterStack> {
  const id = randomUUID().slice(0, 8);
  const prefix = `c${id}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'kortix-cluster-'));
  const dockerVars = await provision('docker');
  const pgVars = await provision('postgres', ['start']);
  const bins = await provision('temporal-server');
  const adminUrl = pgVars.DATABASE_URL as string;
  const mock = await startMockLlm({ scenariosDir: resolve(REPO_ROOT, 'mock-llm/scenarios'), scenarios: options.scenarios ?? [] });
  const databases = { temporal: `temporal_${prefix}`, visibility: `temporal_visibility_${prefix}`, kortix: `kortix_${prefix}` };
  const dropDatabases = async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    for (const name of Object.values(databases)) await admin.query(`drop database if exists "${name}" with (force)`).catch(() => {});
    await admin.end();
  };
  const cluster = await Cluster.start({
    portBase: await freePortBase(),
    binaries: { server: bins.TEMPORAL_SERVER_BIN as string, sqlTool: bins.TEMPORAL_SQL_TOOL as string, uiServer: bins.TEMPORAL_UI_SERVER },
    adminDatabaseUrl: adminUrl,
    databases,
    dataDir,
    hostIdPrefix: `${prefix}-host`,
    kortixEnv: {
      KORTIX_ENV: 'test',
      LOG_LEVEL: 'info',
      MOCK_LLM_URL: mock.url,
      SANDBOX_IMAGE: dockerVars.SANDBOX_IMAGE ?? 'kortix/sandbox:dev',
      TASK_QUEUE_PREFIX: prefix,
      SANDBOX_POOL_MIN_IDLE: '1',
      SANDBOX_MEMORY_MB: '256',
      SANDBOX_PIDS_LIMIT: '128',
      SANDBOX_WORKSPACE_MB: '64',
      SANDBOX_TMP_MB: '32',
      MAINTENANCE_INTERVAL: '0',
      // Claimed containers whose session ended are reaped every 10th sweep: within 30 s, not 5 min.
      SANDBOX_POOL_HEALTH_INTERVAL: '3s',
      // A dead host is noticed in seconds, not the production default of minutes.
      SESSION_HEARTBEAT_TIMEOUT: '3s',
      SESSION_SANDBOX_SCHEDULE_TO_START: '4s',
      ...options.kortixEnv,
    },
  }).catch(async (err: unknown) => {
    await mock.close();
    await dropDatabases();
    throw err;
  });
  const db = createDb({ url: cluster.databaseUrl });
  const tenantId = `tenant-${prefix}`;
  await createTenant(db, { id: tenantId });
  const { key } = await createApiKey(db, { tenantId, principal: 'alice' });

  const apiAt = (base: string): ApiClient => ({
    api: (method, path, _who, body, headers = {}) =>
      fetch(`${base}${path}`, {
        method,
        headers: { 'x-tenant-id': tenantId, authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
  });
  return {
    cluster,
    db,
    prefix,
    mock,
    dataDir,
    apiOf: (index) => apiAt(cluster.apiUrls[index] as string),
    apiAt,
    containers: () => docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${prefix}`] } }),
    async close() {
      await cluster.stop();
      await db.destroy();
      await mock.close();
      // The hosts stopped as a deployment's do, keeping containers and networks for a next start that never comes.
      await removePoolLeftovers(docker, prefix);
      await dropDatabases();
    },
  };
}

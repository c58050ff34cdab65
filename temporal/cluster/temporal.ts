/**
 * The Temporal part of the cluster: its two Postgres databases (persistence
 * and visibility) brought to the server's schema version with the schema
 * tool, the four services as separate processes, the default namespace, the
 * search attributes, and the Web UI pointed at the frontend.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import pg from 'pg';
import { REPO_ROOT } from '../../config/index.js';
import { portOpen } from '../dev-server.js';
import { ensureSearchAttributes } from '../search-attributes.js';
import { TEMPORAL_SERVICES, type ClusterLayout, type TemporalService } from './layout.js';
import { ClusterProcess } from './process.js';

const run = promisify(execFile);

export interface TemporalBinaries {
  readonly server: string;
  readonly sqlTool: string;
  /** Absent: the cluster runs without the Web UI. */
  readonly uiServer?: string;
}

export interface TemporalDatabases {
  /** A Postgres superuser URL (the embedded one, or DATABASE_URL's server); its database is not used. */
  readonly adminUrl: string;
  readonly persistence: string;
  readonly visibility: string;
}

const SERVER_CONFIG_DIR = 'temporal/cluster/server';
const UI_CONFIG_DIR = 'temporal/cluster/ui';
/** The schema tool's embedded schemas for the server's own version (no files to ship). */
const SCHEMAS = { persistence: 'postgresql/v12/temporal', visibility: 'postgresql/v12/visibility' } as const;

function sqlToolArgs(adminUrl: string, database: string): string[] {
  const u = new URL(adminUrl);
  return [
    '--plugin', 'postgres12',
    '--endpoint', u.hostname,
    '--port', u.port || '5432',
    '--user', decodeURIComponent(u.username),
    '--password', decodeURIComponent(u.password),
    '--database', database,
  ];
}

/**
 * Creates each database if missing, sets up the schema-version table once,
 * then `update-schema` applies every versioned step newer than the recorded
 * version: run again after a server upgrade, it migrates in place.
 */
export async function prepareDatabases(sqlTool: string, dbs: TemporalDatabases, log: (line: string) => void): Promise<void> {
  const admin = new pg.Client({ connectionString: dbs.adminUrl });
  await admin.connect();
  try {
    for (const kind of ['persistence', 'visibility'] as const) {
      const database = dbs[kind];
      const args = sqlToolArgs(dbs.adminUrl, database);
      const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
      if (exists.rowCount === 0) await run(sqlTool, [...args, 'create-database']);
      const probe = new pg.Client({ connectionString: withDatabase(dbs.adminUrl, database) });
      await probe.connect();
      const versioned = await probe.query(`select 1 from information_schema.tables where table_name = 'schema_version'`).finally(() => probe.end());
      if (versioned.rowCount === 0) await run(sqlTool, [...args, 'setup-schema', '--version', '0.0']);
      await run(sqlTool, [...args, 'update-schema', '--schema-name', SCHEMAS[kind]]);
      log(`temporal ${kind} database ${database}: schema ${SCHEMAS[kind]} up to date`);
    }
  } finally {
    await admin.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The variables temporal/cluster/server/cluster.yaml and ui/cluster.yaml read. */
function templateEnv(layout: ClusterLayout, dbs: TemporalDatabases): Record<string, string> {
  const pgUrl = new URL(dbs.adminUrl);
  const t = layout.temporal;
  return {
    KORTIX_TCLUSTER_HOST: layout.host,
    KORTIX_TCLUSTER_PG_HOST: pgUrl.hostname,
    KORTIX_TCLUSTER_PG_PORT: pgUrl.port || '5432',
    KORTIX_TCLUSTER_PG_USER: decodeURIComponent(pgUrl.username),
    KORTIX_TCLUSTER_PG_PASSWORD: decodeURIComponent(pgUrl.password),
    KORTIX_TCLUSTER_DB: dbs.persistence,
    KORTIX_TCLUSTER_VISIBILITY_DB: dbs.visibility,
    KORTIX_TCLUSTER_DYNAMIC_CONFIG: resolve(REPO_ROOT, SERVER_CONFIG_DIR, 'dynamicconfig/cluster.yaml'),
    KORTIX_TCLUSTER_FRONTEND_HTTP_PORT: String(layout.frontendHttp),
    KORTIX_TCLUSTER_FRONTEND_ADDRESS: `${layout.host}:${t.frontend.grpc}`,
    KORTIX_TCLUSTER_UI_PORT: String(layout.ui),
    // The first API instance: any of them decodes (they share the keyring and the codec login key).
    KORTIX_TCLUSTER_CODEC_ENDPOINT: `http://${layout.host}:${layout.api[0] ?? 8000}/v1/codec`,
    ...Object.fromEntries(
      TEMPORAL_SERVICES.flatMap((s) => [
        [`KORTIX_TCLUSTER_${s.toUpperCase()}_PORT`, String(t[s].grpc)],
        [`KORTIX_TCLUSTER_${s.toUpperCase()}_MEMBERSHIP_PORT`, String(t[s].membership)],
      ]),
    ),
  };
}

export function temporalServiceProcess(bin: TemporalBinaries, layout: ClusterLayout, dbs: TemporalDatabases, service: TemporalService, logDir: string): ClusterProcess {
  const ports = layout.temporal[service];
  return new ClusterProcess({
    name: `temporal-${service}`,
    command: bin.server,
    args: ['--root', REPO_ROOT, '--config', SERVER_CONFIG_DIR, '--env', 'cluster', '--allow-no-auth', 'start', '--service', service],
    env: { ...templateEnv(layout, dbs), KORTIX_TCLUSTER_METRICS_PORT: String(ports.metrics) },
    cwd: REPO_ROOT,
    logFile: resolve(logDir, `temporal-${service}.log`),
    // The internal worker service serves no gRPC: it is ready once it is in the membership ring.
    ready: () => portOpen(layout.host, service === 'worker' ? ports.membership : ports.grpc),
    listens: [
      ...(service === 'worker' ? [] : [`gRPC ${layout.host}:${ports.grpc}`]),
      `membership ${layout.host}:${ports.membership}`,
      `metrics http://${layout.host}:${ports.metrics}/metrics`,
      ...(service === 'frontend' ? [`HTTP API http://${layout.host}:${layout.frontendHttp}`] : []),
    ],
    stopGraceMs: 10_000,
  });
}

/**
 * Temporal alone, serving `namespace`: its databases at the schema version, the
 * four services (history first: on a fresh database each service would write
 * the cluster metadata at once, and all but one fail), then the namespace and
 * search attributes. If any step fails, the services started are killed.
 * Cluster.start runs the Kortix processes on it; bench/throughput-server.ts
 * points the bench's own stack at it.
 */
export async function startTemporalServices(
  bin: TemporalBinaries,
  layout: ClusterLayout,
  dbs: TemporalDatabases,
  logDir: string,
  namespace: string,
  log: (line: string) => void,
): Promise<Record<TemporalService, ClusterProcess>> {
  await prepareDatabases(bin.sqlTool, dbs, log);
  const temporal = Object.fromEntries(TEMPORAL_SERVICES.map((s) => [s, temporalServiceProcess(bin, layout, dbs, s, logDir)])) as Record<TemporalService, ClusterProcess>;
  const [first, ...others] = TEMPORAL_SERVICES;
  try {
    await temporal[first].start();
    await Promise.all(others.map((s) => temporal[s].start()));
    const frontend = `${layout.host}:${layout.temporal.frontend.grpc}`;
    await prepareNamespace(frontend, namespace);
    log(`temporal: frontend ${frontend}, namespace ${namespace} and the search attributes registered`);
    return temporal;
  } catch (err) {
    for (const s of [...TEMPORAL_SERVICES].reverse()) await temporal[s].kill();
    throw err;
  }
}

export function uiProcess(uiServer: string, layout: ClusterLayout, dbs: TemporalDatabases, logDir: string): ClusterProcess {
  const url = `http://${layout.host}:${layout.ui}`;
  return new ClusterProcess({
    name: 'temporal-ui',
    command: uiServer,
    args: ['--root', REPO_ROOT, '--config', UI_CONFIG_DIR, '--env', 'cluster', 'start'],
    env: templateEnv(layout, dbs),
    cwd: REPO_ROOT,
    logFile: resolve(logDir, 'temporal-ui.log'),
    ready: async () => (await fetch(`${url}/api/v1/settings`)).ok,
    listens: [`Web UI ${url} (read-only)`],
  });
}

/**
 * Registers the namespace (a real cluster has none but the system one) and
 * the search attributes, once the frontend can reach history and matching.
 */
export async function prepareNamespace(address: string, namespace: string, timeoutMs = 90_000): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: '5s' });
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  try {
    while (Date.now() < deadline) {
      try {
        await connection.workflowService
          .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') })
          .catch((err: Error) => {
            if (!/already exists|already registered/i.test(err.message)) throw err;
          });
        await connection.workflowService.describeNamespace({ namespace });
        await ensureSearchAttributes(connection, namespace);
        // The search attributes show on a list once the namespace is served everywhere.
        await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
        return;
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    throw new Error(`namespace ${namespace} not served by ${address} within ${timeoutMs} ms: ${(last as Error)?.message}`);
  } finally {
    await connection.close();
  }
}

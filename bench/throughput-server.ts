/**
 * The Temporal server a throughput run (bench/throughput.ts) measures on:
 * - `dev`: `temporal server start-dev`, one process on SQLite, a fresh file per
 *   variant (temporal/dev-server.ts, with the variant's flags, pragmas and
 *   dynamic config);
 * - `cluster`: the cluster's Temporal (temporal/cluster/: server v1.29.1 on
 *   Postgres, history, matching, frontend and worker as four processes, fresh
 *   databases per variant, temporal/cluster/server/dynamicconfig/cluster.yaml,
 *   which enables eager activity dispatch as the dev server does).
 * Only Temporal changes: the API, the workers, the mock LLM, Kortix's Postgres
 * database and Docker are the bench's own in both, so ours / floor reads the
 * same on each and the two ratios compare.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { provision } from '../scripts/lib/provision.js';
import { clusterLayout, TEMPORAL_SERVICES } from '../temporal/cluster/layout.js';
import { startTemporalServices } from '../temporal/cluster/temporal.js';
import { TemporalDevServer } from '../temporal/dev-server.js';
import { freePortBase } from '../test/cluster/cluster-stack.js';
import type { ServiceValues } from '../test/support/services.js';

export const THROUGHPUT_SERVERS = ['dev', 'cluster'] as const;
export type ThroughputServer = (typeof THROUGHPUT_SERVERS)[number];

/** The settings of a variant that only the dev server takes (`start-dev` flags). */
export interface DevServerSettings {
  /** More `temporal server start-dev` flags for the variant's own dev server. */
  readonly server?: readonly string[];
  /** Its SQLite pragmas (default: temporal/dev-server.ts's DEV_SQLITE_PRAGMAS). */
  readonly sqlitePragmas?: readonly string[];
  /** Its dynamic config (default: temporal/dev-server.ts's DEV_DYNAMIC_CONFIG). */
  readonly dynamicConfig?: readonly string[];
  /** Environment variables of its process (`gogcN`: GOGC, the Go runtime's GC target). */
  readonly serverEnv?: Readonly<Record<string, string>>;
}

/** `--servers=dev,cluster` → the servers in that order, each once; absent → the dev server alone. */
export function parseServers(arg: string | undefined): ThroughputServer[] {
  const names = (arg ?? 'dev').split(',').map((s) => s.trim());
  const servers: ThroughputServer[] = [];
  for (const name of names) {
    const server = THROUGHPUT_SERVERS.find((s) => s === name);
    if (!server) throw new Error(`--servers: no server "${name}" (${THROUGHPUT_SERVERS.join(', ')})`);
    if (!servers.includes(server)) servers.push(server);
  }
  return servers;
}

export interface ThroughputRun<V> {
  readonly variant: V;
  readonly server: ThroughputServer;
  /** The variant's label on the dev server (as before `--servers`), `label@cluster` on the cluster. */
  readonly label: string;
}

/**
 * Every variant on every server, a variant's servers one after the other (the
 * machine's load drifts less between the two runs of a pair). A variant with
 * dev-server settings is refused on the cluster: run silently without them, its
 * label would name what was not measured.
 */
export function throughputRuns<V extends DevServerSettings & { readonly label: string }>(variants: readonly V[], servers: readonly ThroughputServer[]): ThroughputRun<V>[] {
  return variants.flatMap((variant) =>
    servers.map((server) => {
      if (server === 'cluster') {
        const devOnly = (['server', 'sqlitePragmas', 'dynamicConfig', 'serverEnv'] as const).filter((k) => variant[k] !== undefined);
        if (devOnly.length > 0) throw new Error(`--servers=cluster: variant ${variant.label} sets ${devOnly.join(', ')}, which only the dev server takes (the cluster's are temporal/cluster/server/)`);
      }
      return { variant, server, label: server === 'dev' ? variant.label : `${variant.label}@cluster` };
    }),
  );
}

export interface BenchTemporal {
  readonly address: string;
  /** Prometheus endpoints: the dev server's, or each cluster service's. */
  readonly metricsUrls: readonly string[];
  /** What finds its processes in /proc (bench/cpu-profile.ts cpuByGroup): a marker of the dev server's command line, or the services' pids. */
  readonly processes: string | readonly number[];
  stop(): Promise<void>;
}

/** The run's Temporal, fresh: nothing another run wrote is in its history. */
export function startBenchTemporal(services: ServiceValues, run: ThroughputRun<DevServerSettings>): Promise<BenchTemporal> {
  return run.server === 'dev' ? startDev(services, run.label, run.variant) : startCluster(services, run.label);
}

async function startDev(services: ServiceValues, label: string, variant: DevServerSettings): Promise<BenchTemporal> {
  const dbFile = `temporal-${label}.db`;
  const server = await TemporalDevServer.start({
    cli: services.temporalCli,
    dbFile: join(services.tmpDir, dbFile),
    uiPort: null,
    logFile: join(services.tmpDir, `temporal-${label}.log`),
    extraArgs: variant.server ?? [],
    ...(variant.sqlitePragmas ? { sqlitePragmas: variant.sqlitePragmas } : {}),
    ...(variant.dynamicConfig ? { dynamicConfig: variant.dynamicConfig } : {}),
    ...(variant.serverEnv ? { env: variant.serverEnv } : {}),
  });
  return {
    address: server.address,
    metricsUrls: [`http://${server.ip}:${server.metricsPort}/metrics`],
    processes: dbFile,
    stop: () => server.stop(),
  };
}

async function startCluster(services: ServiceValues, label: string): Promise<BenchTemporal> {
  // Waits on the provision script's build lock if the server is being built, never builds twice.
  const bins = await provision('temporal-server');
  const id = randomUUID().slice(0, 8);
  const dbs = { adminUrl: services.adminDatabaseUrl, persistence: `temporal_bench_${id}`, visibility: `temporal_visibility_bench_${id}` };
  const drop = async () => {
    const admin = new pg.Client({ connectionString: services.adminDatabaseUrl });
    await admin.connect();
    for (const name of [dbs.persistence, dbs.visibility]) await admin.query(`drop database if exists "${name}" with (force)`).catch(() => {});
    await admin.end();
  };
  const layout = clusterLayout(await freePortBase());
  const logDir = join(services.tmpDir, `temporal-${label}`);
  const log = (line: string) => console.log(`[throughput ${label}] ${line}`);
  const temporal = await startTemporalServices(
    { server: bins.TEMPORAL_SERVER_BIN as string, sqlTool: bins.TEMPORAL_SQL_TOOL as string },
    layout,
    dbs,
    logDir,
    'default',
    log,
  ).catch(async (err: unknown) => {
    await drop();
    throw err;
  });
  log(`cluster logs in ${logDir}`);
  return {
    address: `${layout.host}:${layout.temporal.frontend.grpc}`,
    metricsUrls: TEMPORAL_SERVICES.map((s) => `http://${layout.host}:${layout.temporal[s].metrics}/metrics`),
    processes: TEMPORAL_SERVICES.map((s) => temporal[s].pid ?? -1),
    async stop() {
      for (const s of [...TEMPORAL_SERVICES].reverse()) await temporal[s].stop();
      await drop();
    },
  };
}

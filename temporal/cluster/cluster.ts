/**
 * The whole cluster on this machine, started and stopped from code (scripts/cluster.ts
 * for `make cluster`, test/cluster for the fault tests): Temporal on Postgres as four
 * service processes, the Web UI, Kortix worker hosts and API instances. Each piece is
 * a ClusterProcess, so a test can SIGKILL or restart one while the rest runs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { createDb } from '../../db/client.js';
import { migrateToLatest } from '../../db/migrate.js';
import { loadWorkflowBundle } from '../worker-options.js';
import { apiProcess, workerHostProcess, type KortixSettings } from './kortix.js';
import { API_INSTANCES, clusterLayout, TEMPORAL_SERVICES, WORKER_HOSTS, type ClusterLayout, type TemporalService } from './layout.js';
import type { ClusterProcess } from './process.js';
import { startTemporalServices, uiProcess, withDatabase, type TemporalBinaries } from './temporal.js';

export interface ClusterOptions {
  /** First port of the layout (temporal/cluster/layout.ts). */
  readonly portBase: number;
  readonly host?: string;
  readonly binaries: TemporalBinaries;
  /** A Postgres superuser URL: the databases below are created on its server. */
  readonly adminDatabaseUrl: string;
  readonly databases: { readonly temporal: string; readonly visibility: string; readonly kortix: string };
  /** Logs and the workflow bundle. */
  readonly dataDir: string;
  readonly namespace?: string;
  /** Added to every Kortix process's environment (model, sandbox image, task-queue prefix, tuning). */
  readonly kortixEnv?: Record<string, string>;
  readonly hostIdPrefix?: string;
  readonly log?: (line: string) => void;
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`create database "${database.replaceAll('"', '')}"`);
  } finally {
    await admin.end();
  }
}

export class Cluster {
  private constructor(
    readonly layout: ClusterLayout,
    readonly temporal: Record<TemporalService, ClusterProcess>,
    readonly ui: ClusterProcess | undefined,
    readonly workers: readonly ClusterProcess[],
    readonly apis: readonly ClusterProcess[],
    readonly databaseUrl: string,
    readonly kortixEnv: Record<string, string>,
  ) {}

  get frontendAddress(): string {
    return `${this.layout.host}:${this.layout.temporal.frontend.grpc}`;
  }

  get apiUrls(): string[] {
    return this.layout.api.map((port) => `http://${this.layout.host}:${port}`);
  }

  /** Every process, in start order. */
  get processes(): ClusterProcess[] {
    return [...TEMPORAL_SERVICES.map((s) => this.temporal[s]), ...this.workers, ...this.apis, ...(this.ui ? [this.ui] : [])];
  }

  /** One line per process: name, pid, where it listens. */
  describe(): string[] {
    return this.processes.map((p) => `${p.name.padEnd(22)} pid ${String(p.pid ?? '-').padEnd(8)} ${p.spec.listens.join('; ')}`);
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    const log = options.log ?? (() => {});
    const layout = clusterLayout(options.portBase, options.host);
    const namespace = options.namespace ?? 'default';
    const logDir = resolve(options.dataDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const dbs = { adminUrl: options.adminDatabaseUrl, persistence: options.databases.temporal, visibility: options.databases.visibility };
    const temporal = await startTemporalServices(options.binaries, layout, dbs, logDir, namespace, log);
    const frontend = `${layout.host}:${layout.temporal.frontend.grpc}`;
    const started: ClusterProcess[] = TEMPORAL_SERVICES.map((s) => temporal[s]);
    const startAll = async (group: ClusterProcess[]) => {
      started.push(...group);
      await Promise.all(group.map((p) => p.start()));
    };
    try {
      // Migrated and bundled once here, not by every process at once.
      await ensureDatabase(options.adminDatabaseUrl, options.databases.kortix);
      const databaseUrl = withDatabase(options.adminDatabaseUrl, options.databases.kortix);
      const db = createDb({ url: databaseUrl });
      await migrateToLatest(db).finally(() => db.destroy());
      const bundlePath = resolve(options.dataDir, 'workflow-bundle.js');
      writeFileSync(bundlePath, (await loadWorkflowBundle()).code);

      const ui = options.binaries.uiServer ? uiProcess(options.binaries.uiServer, layout, dbs, logDir) : undefined;
      const env: Record<string, string> = {
        TEMPORAL_ADDRESS: frontend,
        TEMPORAL_NAMESPACE: namespace,
        DATABASE_URL: databaseUrl,
        WORKFLOW_BUNDLE_PATH: bundlePath,
        ...(ui ? { TEMPORAL_UI_URL: `http://${layout.host}:${layout.ui}` } : {}),
        ...options.kortixEnv,
      };
      const settings: KortixSettings = { env, logDir, hostIdPrefix: options.hostIdPrefix ?? 'cluster-host' };
      const workers = Array.from({ length: WORKER_HOSTS }, (_, i) => workerHostProcess(settings, layout, i));
      const apis = Array.from({ length: API_INSTANCES }, (_, i) => apiProcess(settings, layout, i));
      await startAll(workers);
      await startAll(apis);
      if (ui) await startAll([ui]);
      return new Cluster(layout, temporal, ui, workers, apis, databaseUrl, env);
    } catch (err) {
      for (const p of started.reverse()) await p.kill();
      throw err;
    }
  }

  /** Graceful, in reverse start order: APIs and workers drain before Temporal goes. */
  async stop(): Promise<void> {
    for (const p of this.processes.reverse()) await p.stop();
  }
}

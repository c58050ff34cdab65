/**
 * The real services a test run, a benchmark or a history recording needs,
 * provisioned the way `make dev` does (scripts/provision): a Temporal dev
 * server on free ports with its own SQLite file, a fresh Postgres database,
 * the mock LLM and one workflow bundle.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import pg from 'pg';
import { REPO_ROOT } from '../../config/index.js';
import { createDb } from '../../db/client.js';
import { migrateToLatest } from '../../db/migrate.js';
import { startMockLlm } from '../../mock-llm/server.js';
import { provision } from '../../scripts/lib/provision.js';
import { TemporalDevServer } from '../../temporal/dev-server.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { removeTestLeftovers } from './leftovers.js';

export interface ServiceValues {
  temporalAddress: string;
  temporalCli: string;
  databaseUrl: string;
  adminDatabaseUrl: string;
  mockLlmUrl: string;
  bundlePath: string;
  sandboxImage: string;
  tmpDir: string;
}

export interface Services {
  readonly values: ServiceValues;
  readonly temporal: TemporalDevServer;
  stop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function startServices(label = 'test'): Promise<Services> {
  const tmpDir = mkdtempSync(join(tmpdir(), `kortix-${label}-`));
  const docker = await provision('docker');
  // Before anything of this run exists: what earlier runs on this machine left (test/support/leftovers.ts).
  const swept = await removeTestLeftovers(new Docker({ socketPath: '/var/run/docker.sock' }));
  if (swept.containers + swept.volumes + swept.networks > 0) {
    console.log(`[services] removed what earlier runs left in Docker: ${swept.containers} containers, ${swept.volumes} volumes, ${swept.networks} egress networks`);
  }
  const pgVars = await provision('postgres', ['start']);
  const temporalVars = await provision('temporal', [], { ...process.env, TEMPORAL_ADDRESS: '' });
  const cli = temporalVars.TEMPORAL_CLI;
  if (!cli) throw new Error('no Temporal CLI: scripts/provision/temporal.sh gave none');

  const temporal = await TemporalDevServer.start({ cli, dbFile: join(tmpDir, 'temporal.db'), uiPort: null, logFile: join(tmpDir, 'temporal.log') });

  // A database of its own per run: nothing of an earlier run is seen.
  const adminDatabaseUrl = pgVars.DATABASE_URL as string;
  const database = `kortix_${label.replace(/\W/g, '_')}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminDatabaseUrl });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  const databaseUrl = withDatabase(adminDatabaseUrl, database);
  const db = createDb({ url: databaseUrl });
  await migrateToLatest(db);
  await db.destroy();

  const mock = await startMockLlm({ scenariosDir: resolve(REPO_ROOT, 'mock-llm/scenarios') });
  const bundle = await loadWorkflowBundle();
  const bundlePath = join(tmpDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  return {
    temporal,
    values: {
      temporalAddress: temporal.address,
      temporalCli: cli,
      databaseUrl,
      adminDatabaseUrl,
      mockLlmUrl: mock.url,
      bundlePath,
      sandboxImage: docker.SANDBOX_IMAGE ?? 'kortix/sandbox:dev',
      tmpDir,
    },
    async stop() {
      await mock.close();
      await temporal.stop();
      const cleanup = new pg.Client({ connectionString: adminDatabaseUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${database} with (force)`).catch(() => {});
      await cleanup.end();
    },
  };
}

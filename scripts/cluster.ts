/**
 * `make cluster`: Kortix in its production shape on this machine, next to `make dev`
 * (different ports, different databases).
 *
 * 1. Provisions the Docker engine and sandbox image, Postgres (DATABASE_URL's server or the
 *    embedded one) and the Temporal server, schema tool and Web UI server
 *    (scripts/provision/temporal-server.sh: go install once).
 * 2. Starts temporal/cluster/cluster.ts: the Temporal databases `temporal` and
 *    `temporal_visibility` at the server's schema version, the frontend, history, matching
 *    and worker services as separate processes, the default namespace and search attributes,
 *    2 Kortix worker hosts, 2 API instances and the read-only Web UI, and the mock LLM.
 * 3. Seeds the tenant `demo` with a key for alice (printed), says where each piece listens,
 *    and stops everything on Ctrl-C (workers drain first, Temporal last).
 *
 *   npx tsx scripts/cluster.ts [--port-base 17200]
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, loadConfigOrExit } from '../config/index.js';
import { createDb } from '../db/client.js';
import { createApiKey, createTenant, tenantExists } from '../db/tenants.js';
import { startMockLlm } from '../mock-llm/server.js';
import { Cluster } from '../temporal/cluster/cluster.js';
import { clusterLayout, MAX_PORT_BASE } from '../temporal/cluster/layout.js';
import { provision } from './lib/provision.js';

const say = (msg: string) => process.stderr.write(`\x1b[1m[cluster]\x1b[0m ${msg}\n`);

const { values } = parseArgs({ options: { 'port-base': { type: 'string', default: '17200' } } });
const portBase = Number(values['port-base']);
if (!Number.isInteger(portBase) || portBase < 1024 || portBase > MAX_PORT_BASE) {
  say(`--port-base: ${values['port-base']} is not a port between 1024 and ${MAX_PORT_BASE} (Temporal stores membership ports as a smallint)`);
  process.exit(2);
}

async function main(): Promise<void> {
  const dataDir = resolve(loadConfigOrExit().KORTIX_DATA_DIR, 'cluster');
  mkdirSync(dataDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env };
  say('checking the Docker engine and the sandbox image');
  Object.assign(env, await provision('docker', [], env));
  const pgVars = await provision('postgres', ['start'], env);
  const bins = await provision('temporal-server', [], env);
  const layout = clusterLayout(portBase);
  const mock = await startMockLlm({ scenariosDir: resolve(REPO_ROOT, 'mock-llm/scenarios'), host: layout.host, port: layout.mockLlm });

  say(`starting the cluster (logs: ${dataDir}/logs)`);
  const cluster = await Cluster.start({
    portBase,
    binaries: { server: bins.TEMPORAL_SERVER_BIN as string, sqlTool: bins.TEMPORAL_SQL_TOOL as string, uiServer: bins.TEMPORAL_UI_SERVER },
    adminDatabaseUrl: pgVars.DATABASE_URL as string,
    databases: { temporal: 'temporal', visibility: 'temporal_visibility', kortix: 'kortix_cluster' },
    dataDir,
    kortixEnv: { KORTIX_ENV: 'dev', MOCK_LLM_URL: mock.url, ...(env.SANDBOX_IMAGE ? { SANDBOX_IMAGE: env.SANDBOX_IMAGE } : {}) },
    log: say,
  });

  const db = createDb({ url: cluster.databaseUrl, applicationName: 'kortix-cluster' });
  if (!(await tenantExists(db, 'demo'))) await createTenant(db, { id: 'demo', name: 'Demo tenant' });
  const { key } = await createApiKey(db, { tenantId: 'demo', principal: 'alice' });
  await db.destroy();

  say('running:');
  for (const line of cluster.describe()) process.stdout.write(`  ${line}\n`);
  process.stdout.write(`  ${'mock-llm'.padEnd(22)} in this process      ${mock.url}\n`);
  process.stdout.write(`  ${'postgres'.padEnd(22)} ${pgVars.DATABASE_SOURCE ?? ''} ${new URL(cluster.databaseUrl).host} (temporal, temporal_visibility, kortix_cluster)\n`);
  say(`try: curl -H 'x-tenant-id: demo' -H 'authorization: Bearer ${key}' -H 'content-type: application/json' -d '{"message":"hello"}' ${cluster.apiUrls[0]}/v1/sessions`);
  say('Ctrl-C stops everything');

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping: APIs and workers drain, then the Temporal services (the databases stay)');
    await cluster.stop();
    await mock.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});

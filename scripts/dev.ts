/**
 * `make dev`: the whole platform on embedded defaults, on this machine.
 *
 * 1. Provisions what is missing (scripts/provision): the Docker engine and
 *    the sandbox image, Postgres (DATABASE_URL or an embedded one under
 *    .data/), the Temporal CLI (TEMPORAL_ADDRESS, PATH, cache, or go install).
 * 2. Starts the Temporal dev server (SQLite in .data/, Web UI on :8233)
 *    unless TEMPORAL_ADDRESS names a server.
 * 3. Migrates, seeds a demo tenant with three API keys; .data/dev-keys.env holds them and the
 *    settings (DATABASE_URL, TEMPORAL_ADDRESS) the README's commands need in another shell.
 * 4. Starts the mock LLM, one worker and the API (:8000); the worker and the
 *    API reload when code changes. With LOCAL_MODEL, Ollama too (loopback,
 *    models under .data/ollama; scripts/lib/dev-local-model.ts).
 * Ctrl-C stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { REPO_ROOT, loadConfigOrExit } from '../config/index.js';
import { createDb } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { createApiKey, createTenant, tenantExists } from '../db/tenants.js';
import { TemporalDevServer } from '../temporal/dev-server.js';
import { readDevKeys, writeDevKeys } from './lib/dev-keys.js';
import { startDevLocalModel, type DevLocalModel } from './lib/dev-local-model.js';
import { provision } from './lib/provision.js';

const DATA = loadConfigOrExit().KORTIX_DATA_DIR;
const KEYS_FILE = resolve(DATA, 'dev-keys.env');
/** Vite's dev server for the console (the API serves the built console itself, on its own port). */
const WEB_DEV_PORT = 5173;
const say = (msg: string) => process.stderr.write(`\x1b[1m[dev]\x1b[0m ${msg}\n`);

const children: { name: string; child: ChildProcess }[] = [];
let temporal: TemporalDevServer | undefined;
let localModel: DevLocalModel | undefined;
let startedPostgres = false;
let stopping = false;

function start(name: string, args: string[], env: NodeJS.ProcessEnv): void {
  // Its own process group: Ctrl-C reaches only this script, which sends each child one SIGTERM and
  // waits for it to drain (a second signal makes `tsx watch` force-kill the draining worker).
  const child = spawn(resolve(REPO_ROOT, 'node_modules/.bin/tsx'), args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const prefix = `\x1b[36m[${name}]\x1b[0m `;
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) say(`${name} exited (${signal ?? code}); the others keep running — fix and save a file to reload, or Ctrl-C`);
  });
  children.push({ name, child });
}

/** The demo tenant's keys: the ones of an earlier run when the tenant is still there, else new ones. */
async function seedTenant(databaseUrl: string): Promise<Record<string, string>> {
  const db = createDb({ url: databaseUrl, applicationName: 'kortix-dev' });
  try {
    await migrateToLatest(db);
    const existing = await tenantExists(db, 'demo');
    const previous = readDevKeys(KEYS_FILE);
    if (existing && previous.ALICE_KEY) return previous;
    await createTenant(db, { id: 'demo', name: 'Demo tenant' });
    const keys: Record<string, string> = { KORTIX_TENANT: 'demo', KORTIX_API: 'http://127.0.0.1:8000' };
    for (const [principal, roles] of [
      ['alice', []],
      ['bob', ['admin']],
      ['carol', ['security']],
    ] as const) {
      keys[`${principal.toUpperCase()}_KEY`] = (await createApiKey(db, { tenantId: 'demo', principal, roles })).key;
    }
    return keys;
  } finally {
    await db.destroy();
  }
}

async function shutdown(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say('stopping: API, worker, mock LLM');
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
  if (localModel?.server.pid !== undefined) {
    say('stopping Ollama (its models stay in .data/ollama)');
    await localModel.server.stop();
  }
  if (temporal) {
    say(`stopping the Temporal dev server (its state stays in ${DATA}/temporal.db)`);
    await temporal.stop();
  }
  if (startedPostgres) {
    say(`stopping the embedded Postgres (its data stays in ${DATA})`);
    await provision('postgres', ['stop']).catch(() => {});
  }
  say('the Docker engine keeps running; sandbox containers of finished sessions are gone');
  process.exit(code);
}

async function main(): Promise<void> {
  mkdirSync(resolve(DATA, 'logs'), { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, KORTIX_ENV: 'dev' };

  say('checking the Docker engine and the sandbox image');
  Object.assign(env, await provision('docker', [], env));

  if (env.DATABASE_URL) say('using Postgres at DATABASE_URL');
  else say(`no DATABASE_URL: starting an embedded Postgres under ${DATA}`);
  // Already running (a test run, another shell's make dev, make provision): reused, and left running at Ctrl-C.
  const wasRunning = env.DATABASE_URL ? true : await provision('postgres', ['status'], env).then(() => true, () => false);
  const pg = await provision('postgres', ['start'], env);
  Object.assign(env, pg);
  startedPostgres = pg.DATABASE_SOURCE === 'embedded' && !wasRunning;

  const t = await provision('temporal', [], env);
  say(`Temporal: ${t.TEMPORAL_CLI_SOURCE === 'external' ? `using the server at ${env.TEMPORAL_ADDRESS}` : `CLI from ${t.TEMPORAL_CLI_SOURCE} (${t.TEMPORAL_CLI})`}`);
  if (t.TEMPORAL_CLI_SOURCE !== 'external' && t.TEMPORAL_CLI) {
    say(`starting the Temporal dev server (SQLite: ${DATA}/temporal.db, log: ${DATA}/logs/temporal.log)`);
    temporal = await TemporalDevServer.start({
      cli: t.TEMPORAL_CLI,
      dbFile: resolve(DATA, 'temporal.db'),
      port: 7233,
      uiPort: 8233,
      // The Web UI asks the API to decrypt payloads (README: Payload encryption); the default API address, as `make dev` starts it.
      codecEndpoint: `http://${env.API_HOST ?? '127.0.0.1'}:${env.API_PORT ?? '8000'}/v1/codec`,
      logFile: resolve(DATA, 'logs/temporal.log'),
    });
    env.TEMPORAL_ADDRESS = temporal.address;
    env.TEMPORAL_UI_URL = temporal.uiUrl ?? undefined;
  }

  const config = loadConfigOrExit(env);
  say('migrating the database and seeding the demo tenant');
  const keys = await seedTenant(config.DATABASE_URL as string);
  const cliDir = t.TEMPORAL_CLI && t.TEMPORAL_CLI_SOURCE !== 'path' && t.TEMPORAL_CLI_SOURCE !== 'external' ? dirname(t.TEMPORAL_CLI) : undefined;
  writeDevKeys(KEYS_FILE, keys, { DATABASE_URL: config.DATABASE_URL, TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS }, cliDir);

  env.MOCK_LLM_URL = `http://${config.MOCK_LLM_HOST}:${config.MOCK_LLM_PORT}/v1`;
  if (config.LOCAL_MODEL) {
    localModel = await startDevLocalModel(config, env, say);
    env.LOCAL_LLM_URL = localModel.openAiUrl;
    env.LOCAL_MODEL = localModel.model; // a GGUF path becomes the name of the model made from it
  }
  start('mock-llm', ['mock-llm/main.ts'], env);
  start('worker', ['watch', '--clear-screen=false', '--include', 'workflows/**', '--include', 'policies/**', 'temporal/worker-main.ts'], env);
  start('api', ['watch', '--clear-screen=false', '--include', 'policies/**/*.yaml', 'api/main.ts'], env);
  // The web console with hot reload: Vite's dev server, proxying /v1 to the API (web/vite.config.ts).
  const consoleUrl = `http://${config.API_HOST}:${WEB_DEV_PORT}`;
  start('web', ['node_modules/vite/bin/vite.js', 'web', '--host', config.API_HOST, '--port', String(WEB_DEV_PORT), '--strictPort'], {
    ...env,
    KORTIX_API_URL: `http://${config.API_HOST}:${config.API_PORT}`,
  });

  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  // Detached children outlive a crash of this script unless told.
  process.on('exit', () => {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });

  const ui = config.TEMPORAL_UI_URL;
  say(
    [
      'Kortix is starting:',
      `  API          http://${config.API_HOST}:${config.API_PORT}   (/healthz, /readyz, /metrics)`,
      `  Console      ${consoleUrl}   (sign in with the tenant and a key below)`,
      `  Temporal     ${config.TEMPORAL_ADDRESS}   Web UI ${ui}`,
      `  Mock LLM     ${env.MOCK_LLM_URL}`,
      localModel
        ? `  Local model  ${localModel.model} at ${localModel.openAiUrl}${localModel.ready ? '' : ' (not there yet: see above)'}; typed small requests go there (router/model_policy.yaml)`
        : '  Local model  none (LOCAL_MODEL=kortix-tiny, or qwen2.5:0.5b after `ollama pull`, runs Ollama here)',
      `  Worker       health and metrics on http://${config.WORKER_HEALTH_HOST}:${config.WORKER_HEALTH_PORT}`,
      `  Postgres     ${pg.DATABASE_SOURCE === 'embedded' ? 'embedded, ' : ''}${(config.DATABASE_URL ?? '').replace(/:[^:@/]*@/, ':***@')}`,
      `  Demo tenant  "${keys.KORTIX_TENANT}", keys of alice (requester), bob and carol (approvers) in ${KEYS_FILE}`,
      `  Try the README walk-through: source ${KEYS_FILE}, then the curl commands.`,
      'Ctrl-C stops everything.',
    ].join('\n'),
  );
}

main().catch(async (err: unknown) => {
  say(`failed: ${(err as Error).message}`);
  await shutdown(1);
});

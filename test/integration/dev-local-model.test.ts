/**
 * `LOCAL_MODEL=kortix-tiny make dev`, end to end: the real `make dev` (make,
 * scripts/dev.ts, its mock LLM, worker, API and its own `ollama serve`) on
 * this run's Temporal and Postgres, in a fresh data dir. /readyz lists the
 * local endpoint up with the model, and a whole session of a small typed
 * request, which make dev's policy routes local first, runs over the HTTP API
 * on the real engine: completed with an answer, every model call booked on
 * provider local at cost 0.
 *
 * And LOCAL_MODEL naming a GGUF file: the model is created from the file,
 * named after it, by the code `make dev` runs (scripts/lib/dev-local-model.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { createDb } from '../../db/client.js';
import { ledgerRows } from '../../db/llm-ledger.js';
import { readDevKeys } from '../../scripts/lib/dev-keys.js';
import { startDevLocalModel } from '../../scripts/lib/dev-local-model.js';
import { hasModel } from '../../scripts/lib/ollama.js';
import { TINY_MODEL_NAME, tinyModelGguf } from '../../scripts/lib/tiny-model.js';
import { startSession, waitForStatus } from '../support/sessions.js';
import { removePoolLeftovers } from '../support/leftovers.js';
import { docker, stackEnv } from '../support/stack.js';

const services = inject('services');
const db = createDb({ url: services.databaseUrl });
afterAll(() => db.destroy());

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

interface ReadyModels {
  ready: boolean;
  models: { provider: string; url: string; ok: boolean; models: { name: string; model: string; available: boolean | null }[] }[];
}

describe('LOCAL_MODEL=kortix-tiny make dev', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kortix-dev-local-'));
  const logFile = join(dataDir, 'make-dev.log');
  let make: ChildProcess;
  // A test stack's pool name: what make dev's worker keeps in Docker goes with the stack's sweep (test/support/leftovers.ts).
  const pool = `t${randomUUID().slice(0, 8)}`;
  let api: string;
  let ollamaUrl: string;

  beforeAll(async () => {
    const [apiPort, mockPort, ollamaPort, proxyPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    api = `http://127.0.0.1:${apiPort}`;
    ollamaUrl = `http://127.0.0.1:${ollamaPort}/v1`;
    // This run's Temporal and Postgres (make dev starts neither when given them); ports of its own; a fresh data dir.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...stackEnv(services, pool),
      KORTIX_DATA_DIR: dataDir,
      LOCAL_MODEL: TINY_MODEL_NAME,
      LOCAL_LLM_URL: ollamaUrl,
      API_PORT: String(apiPort),
      MOCK_LLM_PORT: String(mockPort),
      SANDBOX_EGRESS_PROXY_PORT: String(proxyPort),
      SANDBOX_POOL_MIN_IDLE: '1',
    };
    delete env.OLLAMA_HOST; // make dev's own `ollama serve`, not a server of the environment
    const log = openSync(logFile, 'a');
    make = spawn('make', ['--no-print-directory', 'dev'], { cwd: REPO_ROOT, env, stdio: ['ignore', log, log], detached: true });
    // The first run on a machine may build Ollama (scripts/provision/ollama.sh).
    const deadline = Date.now() + 900_000;
    for (;;) {
      if (make.exitCode !== null || make.signalCode !== null) throw new Error(`make dev exited (${make.exitCode ?? make.signalCode}): ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      const res = await fetch(`${api}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      if (res?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`make dev did not answer /readyz in 900 s: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 960_000);

  afterAll(async () => {
    if (make?.pid !== undefined && make.exitCode === null && make.signalCode === null) {
      const exited = new Promise((r) => make.once('exit', r));
      process.kill(-make.pid, 'SIGINT'); // as Ctrl-C: make dev stops what it started, Ollama included
      await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
    }
    await removePoolLeftovers(docker, pool);
    rmSync(dataDir, { recursive: true, force: true });
  }, 90_000);

  it('starts Ollama with kortix-tiny made in the data dir, and /readyz lists that endpoint up with the model', async () => {
    expect(existsSync(join(dataDir, TINY_MODEL_NAME, `${TINY_MODEL_NAME}.gguf`))).toBe(true);
    expect(readFileSync(join(dataDir, TINY_MODEL_NAME, 'Modelfile'), 'utf8')).toMatch(/^FROM \.\/kortix-tiny\.gguf$/m);
    const body = (await (await fetch(`${api}/readyz`)).json()) as ReadyModels;
    expect(body.ready).toBe(true);
    const local = body.models.find((m) => m.provider === 'local');
    expect(local).toMatchObject({ url: ollamaUrl, ok: true });
    expect(local?.models).toEqual(expect.arrayContaining([{ name: 'local_llm', model: TINY_MODEL_NAME, available: true }]));
    expect(readFileSync(logFile, 'utf8')).toMatch(/Local model {2}kortix-tiny at http:\/\/127\.0\.0\.1:\d+\/v1/);
  });

  it('runs a whole session over the HTTP API on the local model: completed with an answer, each call local at cost 0', async () => {
    const keys = readDevKeys(join(dataDir, 'dev-keys.env'));
    expect(keys.ALICE_KEY).toMatch(/\S/);
    const client = {
      api: (method: string, path: string, _who?: unknown, body?: unknown) =>
        fetch(`${api}${path}`, {
          method,
          headers: { 'x-tenant-id': keys.KORTIX_TENANT as string, authorization: `Bearer ${keys.ALICE_KEY}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
    };
    // make dev's policy (router/model_policy.yaml) sends untyped sessions to the mock and typed small ones local first.
    const session = await startSession(client, { message: 'Tell me a story about llamas.', requestType: 'chat', metadata: { tier: 'small' } });
    const done = await waitForStatus(client, session.id, undefined, 300_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toEqual(expect.any(String));
    const rows = await ledgerRows(db, { tenantId: keys.KORTIX_TENANT as string, sessionId: session.id });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toHaveLength(done.usage.llmCalls);
    for (const row of rows) {
      expect(row).toMatchObject({ kind: 'chat', route: 'small-local', provider: 'local', model: 'local_llm', providerModel: TINY_MODEL_NAME, outcome: 'ok', costUsd: 0, usageEstimated: false });
    }
    expect(done.usage.costUsd).toBe(0);
    expect(done.usage.outputTokens).toBe(rows.reduce((s, r) => s + r.outputTokens, 0));
  });
});

describe('LOCAL_MODEL=<file>.gguf (what make dev runs for it)', () => {
  it('creates the model from the file on its own Ollama, and says so when the file is not there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kortix-dev-gguf-'));
    const file = join(dir, 'Tiny Llama.gguf');
    writeFileSync(file, tinyModelGguf()); // a GGUF of ours; a downloaded one takes the same path
    const url = `http://127.0.0.1:${await freePort()}/v1`;
    const env = { ...process.env };
    delete env.OLLAMA_HOST;
    const said: string[] = [];
    const local = await startDevLocalModel({ LOCAL_MODEL: file, LOCAL_LLM_URL: url, KORTIX_DATA_DIR: dir }, env, (m) => said.push(m));
    try {
      expect(local).toMatchObject({ model: 'tiny-llama', openAiUrl: url, ready: true });
      expect(await hasModel(local.server.url, 'tiny-llama')).toBe(true);
      expect(said.join('\n')).toContain(`creating model "tiny-llama" on the local server from ${file}`);
      // The OpenAI-compatible API the router uses answers for that name.
      const res = await fetch(`${url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny-llama', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBeGreaterThan(0);
    } finally {
      await local.server.stop();
    }
    const missing = join(dir, 'nowhere.gguf');
    const port = await freePort();
    await expect(startDevLocalModel({ LOCAL_MODEL: missing, LOCAL_LLM_URL: `http://127.0.0.1:${port}/v1`, KORTIX_DATA_DIR: dir }, env, () => {})).rejects.toThrow(
      `LOCAL_MODEL=${missing}: no such GGUF file`,
    );
    // Its server was stopped: nothing listens on the port any more.
    await expect(fetch(`http://127.0.0.1:${port}/api/version`)).rejects.toThrow();
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});

/**
 * Ollama for `make dev`, the tests and the benchmarks: find or build it
 * (scripts/provision/ollama.sh), run `ollama serve` on loopback with its
 * models in a directory of ours, and create models over its HTTP API (the
 * same blob upload and /api/create that `ollama create -f Modelfile` does, so
 * it works against a user's own server too).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { provision } from './provision.js';
import { blobDigest, TINY_MODEL_NAME, TINY_MODEL_PARAMETERS, TINY_MODEL_TEMPLATE, tinyModelGguf } from './tiny-model.js';

/** The native API's base URL from OLLAMA_HOST's forms (`host`, `host:port`, `http://host:port`). */
export function ollamaBaseUrl(host: string): string {
  const withScheme = /^https?:\/\//.test(host) ? host : `http://${host}`;
  const u = new URL(withScheme);
  if (!u.port && !/^https?:\/\/[^/]*:\d+/.test(withScheme)) u.port = '11434';
  return u.origin;
}

/** A running Ollama: its native API and its OpenAI-compatible API (`<url>/v1`). */
export interface OllamaServer {
  readonly url: string;
  readonly openAiUrl: string;
  /** Our own `ollama serve` (undefined when OLLAMA_HOST pointed at someone else's). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Waits until GET /api/version answers; fails early when the process exits. */
async function waitReady(url: string, child: ChildProcess | undefined, timeoutMs: number, logFile: string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`ollama serve exited with code ${child.exitCode}${logFile ? ` (log: ${logFile})` : ''}`);
    try {
      const res = await fetch(`${url}/api/version`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Ollama at ${url} did not answer /api/version within ${timeoutMs} ms (${last})${logFile ? `; log: ${logFile}` : ''}`);
}

export interface StartOllamaOptions {
  /** OLLAMA_MODELS of our server. */
  readonly modelsDir: string;
  readonly logFile: string;
  /** Default: a free port on 127.0.0.1. */
  readonly port?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
}

/**
 * OLLAMA_HOST when set (a user's server wins), else our own `ollama serve` on
 * loopback, the binary from scripts/provision/ollama.sh (built once).
 */
export async function startOllama(options: StartOllamaOptions): Promise<OllamaServer> {
  const env = options.env ?? process.env;
  const vars = await provision('ollama', [], env);
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  if (vars.OLLAMA_SOURCE === 'external' && env.OLLAMA_HOST) {
    const url = ollamaBaseUrl(env.OLLAMA_HOST);
    await waitReady(url, undefined, readyTimeoutMs, undefined);
    return { url, openAiUrl: `${url}/v1`, pid: undefined, stop: async () => {} };
  }
  const bin = vars.OLLAMA_BIN;
  if (!bin) throw new Error('scripts/provision/ollama.sh gave no OLLAMA_BIN');
  const port = options.port ?? (await freePort());
  mkdirSync(options.modelsDir, { recursive: true });
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  const child = spawn(bin, ['serve'], {
    env: {
      ...env,
      OLLAMA_HOST: `127.0.0.1:${port}`,
      OLLAMA_MODELS: options.modelsDir,
      // Nothing to prune or pull: models here are made locally.
      OLLAMA_NOPRUNE: '1',
      OLLAMA_NO_CLOUD: '1',
    },
    stdio: ['ignore', log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
  };
  try {
    await waitReady(url, child, readyTimeoutMs, options.logFile);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, openAiUrl: `${url}/v1`, pid: child.pid, stop };
}

async function ok(res: Response, what: string): Promise<Response> {
  if (res.ok) return res;
  throw new Error(`${what}: HTTP ${res.status} ${(await res.text()).slice(0, 500)}`);
}

export interface CreateModelOptions {
  readonly template?: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly system?: string;
}

/** Uploads a GGUF blob (unless the server has it) and creates model `name` from it. */
export async function createModel(url: string, name: string, gguf: Uint8Array, options: CreateModelOptions = {}): Promise<void> {
  const digest = blobDigest(gguf);
  await uploadBlob(url, digest, () => ({ body: gguf }));
  await createFromBlob(url, name, digest, options);
}

/** Uploads a blob unless the server has it already (by its digest). */
async function uploadBlob(url: string, digest: string, body: () => RequestInit): Promise<void> {
  const head = await fetch(`${url}/api/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  await ok(await fetch(`${url}/api/blobs/${digest}`, { method: 'POST', ...body() }), `upload of ${digest}`);
}

/** /api/create of model `name` from an uploaded GGUF blob. */
async function createFromBlob(url: string, name: string, digest: string, options: CreateModelOptions = {}): Promise<void> {
  const body = { model: name, files: { [`${name}.gguf`]: digest }, stream: false, ...options };
  await ok(await fetch(`${url}/api/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }), `create ${name}`);
}

/**
 * Creates model `name` from a GGUF file (`ollama create name -f Modelfile`
 * with `FROM ./file.gguf`, over HTTP): streamed twice, once to hash and once
 * to upload, so a model of several GB never sits in memory. The chat
 * template comes from the file's own metadata (tokenizer.chat_template), as
 * Ollama reads it.
 */
export async function createModelFromFile(url: string, name: string, path: string): Promise<void> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  const digest = `sha256:${hash.digest('hex')}`;
  // duplex: a streamed request body (Node's fetch requires saying so).
  await uploadBlob(url, digest, () => ({ body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>, duplex: 'half' }) as RequestInit);
  await createFromBlob(url, name, digest);
}

/** Creates kortix-tiny (scripts/lib/tiny-model.ts) on the server at `url`; returns its name. */
export async function createTinyModel(url: string): Promise<string> {
  await createModel(url, TINY_MODEL_NAME, tinyModelGguf(), { template: TINY_MODEL_TEMPLATE, parameters: { ...TINY_MODEL_PARAMETERS, stop: [...TINY_MODEL_PARAMETERS.stop] } });
  return TINY_MODEL_NAME;
}

/** True when the server has the model (`/api/show` answers). */
export async function hasModel(url: string, name: string): Promise<boolean> {
  const res = await fetch(`${url}/api/show`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: name }) });
  await res.body?.cancel();
  return res.ok;
}

/**
 * `make dev` from the command to a ready API (/readyz 200), warm and "cold".
 * Cold here means an empty Kortix cache (the Temporal CLI is built again with
 * go install) and an empty data dir (a new embedded Postgres cluster); the Go
 * module cache and npm's node_modules stay, so a truly fresh machine is slower
 * by the module download (about 5 minutes for the Temporal CLI here).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../config/index.js';

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1_000) })).status === 200;
  } catch {
    return false;
  }
}

async function timeMakeDev(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const child = spawn('make', ['dev'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'ignore'], detached: true });
  try {
    while (performance.now() - started < timeoutMs) {
      if (await ready('http://127.0.0.1:8000/readyz')) return (performance.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`make dev was not ready within ${timeoutMs / 1000} s`);
  } finally {
    process.kill(-(child.pid as number), 'SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
}

export interface MakeDevResult {
  warmSeconds: number;
  coldSeconds: number;
  coldMeans: string;
}

export async function benchMakeDev(): Promise<MakeDevResult> {
  const cache = mkdtempSync(join(tmpdir(), 'kortix-cold-cache-'));
  const data = mkdtempSync(join(tmpdir(), 'kortix-cold-data-'));
  const base = { ...process.env, TEMPORAL_ADDRESS: '', DATABASE_URL: '', TEMPORAL_CLI: '' };
  // A temporal on PATH would be found first: keep only system paths for the cold run.
  const coldPath = (process.env.PATH ?? '').split(':').filter((p) => !p.includes('kortix')).join(':');
  try {
    const coldSeconds = await timeMakeDev({ ...base, PATH: coldPath, KORTIX_CACHE_DIR: cache, KORTIX_DATA_DIR: data, EMBEDDED_PG_PORT: '54339' }, 900_000);
    const warmSeconds = await timeMakeDev(base, 300_000);
    return {
      warmSeconds: Math.round(warmSeconds * 10) / 10,
      coldSeconds: Math.round(coldSeconds * 10) / 10,
      coldMeans: 'empty Kortix cache (Temporal CLI rebuilt with go install, Go module cache warm) and empty data dir (new Postgres cluster)',
    };
  } finally {
    rmSync(cache, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  }
}

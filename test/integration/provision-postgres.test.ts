/**
 * scripts/provision/postgres.sh when the port is held by an embedded Postgres
 * whose cluster was deleted under it: the leftover of a removed checkout
 * (`rm -rf` of a clone whose `make test` left its server running, then a new
 * clone in the same place). That server holds the port and cannot open a
 * connection, so the next clone's whole test run failed at provisioning. The
 * script now stops such a server (its data is already gone) and starts its own.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { parseExports } from '../../scripts/lib/provision.js';

const SCRIPT = resolve(REPO_ROOT, 'scripts/provision/postgres.sh');
const dirs: string[] = [];
/** Each test on a port of its own, so that one's leftover cannot decide another's outcome. */
const ports: number[] = [];
let port = 0;
beforeEach(() => {
  port = 54_500 + Math.floor(Math.random() * 400);
  ports.push(port);
});

function runScript(dataDir: string, action = 'start'): Promise<{ code: number | null; vars: Record<string, string>; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn('bash', [SCRIPT, action], {
      env: { ...process.env, DATABASE_URL: '', KORTIX_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, vars: parseExports(out), stderr }));
  });
}

/** A data directory the server's OS user can reach (mkdtemp makes it 0700, which would move the cluster elsewhere). */
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kortix-pg-orphan-'));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return join(dir, 'data');
}

/** Pids of postgres servers started with `-p <port>`. */
function serversOnPort(on = port): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return / -p (\d+) /.exec(readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' '))?.[1] === String(on);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function selectOne(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ one: number }>('select 1 as one');
    return rows[0]?.one ?? 0;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const dir of dirs) if (existsSync(join(dir, 'data'))) await runScript(join(dir, 'data'), 'stop');
  for (const pid of ports.flatMap((p) => serversOnPort(p))) process.kill(pid, 'SIGQUIT');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('scripts/provision/postgres.sh', () => {
  it('stops a server whose data directory was deleted under it, and starts its own on the port', async () => {
    const first = dataDir();
    const started = await runScript(first);
    expect(started.code, started.stderr).toBe(0);
    expect(await selectOne(started.vars.DATABASE_URL ?? '')).toBe(1);
    const [orphan] = serversOnPort();
    expect(orphan).toBeDefined();

    // The checkout goes; its server stays and holds the port.
    rmSync(first, { recursive: true, force: true });
    expect(readlinkSync(`/proc/${orphan}/cwd`)).toMatch(/ \(deleted\)$/);
    await expect(selectOne(started.vars.DATABASE_URL ?? '')).rejects.toThrow();

    const second = dataDir();
    const again = await runScript(second);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`stopping the Postgres on 127.0.0.1:${port} (pid ${orphan}) whose data directory`);
    expect(await selectOne(again.vars.DATABASE_URL ?? '')).toBe(1);
    expect(serversOnPort()).not.toContain(orphan);
    await runScript(second, 'stop');
  }, 120_000);

  it('leaves a server with its data directory alone (reused, not stopped)', async () => {
    const dir = dataDir();
    const started = await runScript(dir);
    expect(started.code, started.stderr).toBe(0);
    const before = serversOnPort();
    const again = await runScript(dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('reusing');
    expect(serversOnPort()).toEqual(before);
    await runScript(dir, 'stop');
  }, 120_000);
});

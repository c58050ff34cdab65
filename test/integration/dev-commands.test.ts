/**
 * The README's commands after `make dev`, run as a newcomer would in another
 * shell: no DATABASE_URL in the environment, only the settings file that
 * `make dev` wrote to the data dir.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { createDb } from '../../db/client.js';
import { authenticate } from '../../db/tenants.js';
import { readDevKeys, writeDevKeys } from '../../scripts/lib/dev-keys.js';

const run = promisify(execFile);
const services = inject('services');
const db = createDb({ url: services.databaseUrl });
afterAll(() => db.destroy());

/** A shell's environment with nothing of Kortix in it but the data dir. */
function newcomerEnv(dataDir: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, KORTIX_DATA_DIR: dataDir };
}

describe('npm run tenant -- create <tenant> <principal> (README, API section)', () => {
  it('uses the DATABASE_URL make dev wrote to the data dir, saying so in one line', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kortix-newcomer-'));
    writeDevKeys(join(dataDir, 'dev-keys.env'), { KORTIX_TENANT: 'demo' }, { DATABASE_URL: services.databaseUrl });
    const tenant = `acc-other-${randomUUID().slice(0, 8)}`;
    const { stdout, stderr } = await run(resolve(REPO_ROOT, 'node_modules/.bin/tsx'), ['scripts/tenant.ts', 'create', tenant, 'dave'], {
      cwd: REPO_ROOT,
      env: newcomerEnv(dataDir),
    });
    expect(stderr.trim()).toBe(`DATABASE_URL is not set: using the one \`make dev\` wrote to ${join(dataDir, 'dev-keys.env')}`);
    const [principal, key] = stdout.trim().split('\t');
    expect(principal).toBe('dave');
    expect(await authenticate(db, tenant, key as string)).toMatchObject({ tenantId: tenant, principal: 'dave' });
  });

  it('without make dev, stops naming DATABASE_URL and where make dev would have written it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kortix-newcomer-'));
    const failed = await run(resolve(REPO_ROOT, 'node_modules/.bin/tsx'), ['scripts/tenant.ts', 'create', 'acc-nowhere', 'dave'], {
      cwd: REPO_ROOT,
      env: newcomerEnv(dataDir),
    }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(78);
    expect(failed?.stderr).toMatch(/DATABASE_URL: required .*\.data\/dev-keys\.env/);
  });
});

describe('source .data/dev-keys.env (README walk-through)', () => {
  it('sets what the commands need: DATABASE_URL for npm run tenant, temporal on PATH, the keys; quoting survives a shell', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kortix-newcomer-'));
    const cliDir = join(dataDir, 'bin');
    mkdirSync(cliDir);
    writeFileSync(join(cliDir, 'temporal'), '#!/bin/sh\necho "temporal $*"\n', { mode: 0o755 });
    const file = join(dataDir, 'dev-keys.env');
    // A URL with characters a shell reads (& and ?) must come back intact.
    const url = `${services.databaseUrl}?application_name=a&connect_timeout=5`;
    const keys = { KORTIX_TENANT: 'demo', KORTIX_API: 'http://127.0.0.1:8000', ALICE_KEY: 'kx_abc-DEF_123' };
    writeDevKeys(file, keys, { DATABASE_URL: url, TEMPORAL_ADDRESS: '127.0.0.1:7233' }, cliDir);
    // make dev's next start reads back only the keys; the settings are written afresh.
    expect(readDevKeys(file)).toEqual(keys);

    const tenant = `acc-src-${randomUUID().slice(0, 8)}`;
    const { stdout, stderr } = await run(
      'bash',
      ['-c', `source ${file} && echo "$DATABASE_URL" && temporal workflow show && node_modules/.bin/tsx scripts/tenant.ts create ${tenant} dave`],
      // KORTIX_DATA_DIR elsewhere: what works here is what the shell exported.
      { cwd: REPO_ROOT, env: newcomerEnv(mkdtempSync(join(tmpdir(), 'kortix-empty-'))) },
    );
    const [echoed, shown, created] = stdout.trim().split('\n');
    expect(echoed).toBe(url);
    expect(shown).toBe('temporal workflow show');
    expect(created?.split('\t')[0]).toBe('dave');
    expect(stderr).toBe('');
    expect(await authenticate(db, tenant, created?.split('\t')[1] as string)).toMatchObject({ principal: 'dave' });
  });
});

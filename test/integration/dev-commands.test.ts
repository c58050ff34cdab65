/**
 * The README's commands after `make dev`, run as a newcomer would in another
 * shell: no DATABASE_URL in the environment, only the settings file that
 * `make dev` wrote to the data dir.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { createDb } from '../../db/client.js';
import { authenticate } from '../../db/tenants.js';

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
    writeFileSync(join(dataDir, 'dev-keys.env'), `export KORTIX_TENANT=demo\nexport DATABASE_URL=${services.databaseUrl}\n`);
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

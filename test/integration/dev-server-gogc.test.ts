/**
 * The dev server's Go GC target (temporal/dev-server.ts, DEV_SERVER_GOGC; issue 16): the real `temporal server
 * start-dev` process gets GOGC in its environment, from the default, from this process's environment, or from the
 * caller's `env` (the bench's `gogcN`), in that order of precedence, and serves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DEV_SERVER_GOGC, TemporalDevServer, type DevServerOptions } from '../../temporal/dev-server.js';

const services = inject('services');
const savedGogc = process.env.GOGC;

afterEach(() => {
  if (savedGogc === undefined) delete process.env.GOGC;
  else process.env.GOGC = savedGogc;
});

/** The GOGC the running server's process was started with (its /proc environ), after it answered. */
async function serverGogc(name: string, options: Partial<DevServerOptions> = {}): Promise<string | undefined> {
  const server = await TemporalDevServer.start({
    cli: services.temporalCli,
    dbFile: join(services.tmpDir, `gogc-${name}.db`),
    uiPort: null,
    logFile: join(services.tmpDir, `gogc-${name}.log`),
    ...options,
  });
  try {
    expect(server.pid).toBeGreaterThan(0);
    const environ = readFileSync(`/proc/${server.pid}/environ`, 'utf8').split('\0');
    expect(environ.filter((v) => v.startsWith('GOGC='))).toHaveLength(1);
    return environ.find((v) => v.startsWith('GOGC='))?.slice('GOGC='.length);
  } finally {
    await server.stop();
  }
}

describe('the dev server GC target', () => {
  it('is DEV_SERVER_GOGC where the environment sets none, and not Go default', async () => {
    delete process.env.GOGC;
    expect(DEV_SERVER_GOGC).not.toBe('100');
    expect(await serverGogc('default')).toBe(DEV_SERVER_GOGC);
    process.env.GOGC = '';
    expect(await serverGogc('empty')).toBe(DEV_SERVER_GOGC);
  });

  it('is the environment GOGC when it sets one, and the caller env over both', async () => {
    process.env.GOGC = '250';
    expect(await serverGogc('environment')).toBe('250');
    expect(await serverGogc('option', { env: { GOGC: '100' } })).toBe('100');
  });
});

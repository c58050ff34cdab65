/** The warm pool's defaults are the config's, whether the host is built from the config or directly (tests, benches). */
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { loadConfig, SANDBOX_POOL_DEFAULTS } from '../../config/index.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';

// Never connected to: the constructor only keeps it.
const docker = new Docker({ socketPath: '/nonexistent/docker.sock' });
const makeHost = (warmPool?: ConstructorParameters<typeof DockerSandboxHost>[0]['warmPool']) =>
  new DockerSandboxHost({
    docker,
    hostId: 'defaults',
    pool: 'defaults',
    image: 'kortix/sandbox:dev',
    limits: { memoryMb: 128, cpus: 0.5, pidsLimit: 64, workspaceMb: 16, tmpMb: 16 },
    outputLimitBytes: 4096,
    warmPool,
  });

describe('warm pool defaults', () => {
  it('gives a host built without pool settings the config defaults', () => {
    const c = loadConfig({});
    const expected = {
      minIdle: c.SANDBOX_POOL_MIN_IDLE,
      maxTotal: c.SANDBOX_POOL_MAX_TOTAL,
      maxAgeMs: c.SANDBOX_POOL_MAX_AGE,
      whenEmpty: c.SANDBOX_POOL_WHEN_EMPTY,
      waitTimeoutMs: c.SANDBOX_POOL_WAIT_TIMEOUT,
      healthIntervalMs: c.SANDBOX_POOL_HEALTH_INTERVAL,
    };
    expect(expected).toEqual(SANDBOX_POOL_DEFAULTS);
    expect(makeHost().poolSettings).toEqual(expected);
  });

  it('fills in only the settings a host leaves out', () => {
    expect(makeHost({ minIdle: 0, maxAgeMs: 1_000 }).poolSettings).toEqual({ ...SANDBOX_POOL_DEFAULTS, minIdle: 0, maxAgeMs: 1_000 });
  });
});

/** The sandbox's configuration: defaults, durations, and bad values stopping startup with the variable's name. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/index.js';

describe('sandbox configuration', () => {
  it('has a warm pool, the repo seccomp profile and an egress proxy by default', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      SANDBOX_POOL_MIN_IDLE: 2,
      SANDBOX_POOL_MAX_TOTAL: 16,
      SANDBOX_POOL_MAX_AGE: 30 * 60_000,
      SANDBOX_POOL_WHEN_EMPTY: 'cold',
      SANDBOX_POOL_WAIT_TIMEOUT: 60_000,
      SANDBOX_POOL_HEALTH_INTERVAL: 30_000,
      SANDBOX_EGRESS_PROXY_PORT: 3128,
      SANDBOX_EGRESS_FIREWALL: 'auto',
      SANDBOX_TMP_MB: 64,
    });
    expect(c.SANDBOX_SECCOMP_PROFILE).toMatch(/sandbox\/seccomp\.json$/);
  });

  it('reads durations with their unit', () => {
    const c = loadConfig({ SANDBOX_POOL_MAX_AGE: '2h', SANDBOX_POOL_WAIT_TIMEOUT: '500ms', SANDBOX_POOL_HEALTH_INTERVAL: '45s' });
    expect([c.SANDBOX_POOL_MAX_AGE, c.SANDBOX_POOL_WAIT_TIMEOUT, c.SANDBOX_POOL_HEALTH_INTERVAL]).toEqual([7_200_000, 500, 45_000]);
  });

  it("reads the policies' grammar of durations too: sums and days", () => {
    const c = loadConfig({ SANDBOX_POOL_MAX_AGE: '1h30m', SANDBOX_EGRESS_IDLE_TIMEOUT: '1d', MAINTENANCE_INTERVAL: '2h30m' });
    expect([c.SANDBOX_POOL_MAX_AGE, c.SANDBOX_EGRESS_IDLE_TIMEOUT, c.MAINTENANCE_INTERVAL]).toEqual([5_400_000, 86_400_000, 9_000_000]);
    expect(loadConfig({ MAINTENANCE_INTERVAL: '0' }).MAINTENANCE_INTERVAL).toBe(0);
    expect(() => loadConfig({ MAINTENANCE_INTERVAL: '6 hours' })).toThrow('MAINTENANCE_INTERVAL');
  });

  it.each([
    [{ SANDBOX_POOL_MAX_AGE: '30' }, 'SANDBOX_POOL_MAX_AGE: a duration such as 500ms, 30s, 10m, 2h or 1h30m (got "30")'],
    [{ SANDBOX_POOL_WHEN_EMPTY: 'block' }, 'SANDBOX_POOL_WHEN_EMPTY'],
    [{ SANDBOX_POOL_MIN_IDLE: '-1' }, 'SANDBOX_POOL_MIN_IDLE'],
    [{ SANDBOX_POOL_MAX_TOTAL: '0' }, 'SANDBOX_POOL_MAX_TOTAL'],
    [{ SANDBOX_EGRESS_FIREWALL: 'maybe' }, 'SANDBOX_EGRESS_FIREWALL'],
    [{ SANDBOX_EGRESS_PROXY_PORT: '0' }, 'SANDBOX_EGRESS_PROXY_PORT'],
    [{ SANDBOX_POOL_MIN_IDLE: '9', SANDBOX_POOL_MAX_TOTAL: '8' }, 'SANDBOX_POOL_MIN_IDLE: 9 is more than SANDBOX_POOL_MAX_TOTAL (8)'],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

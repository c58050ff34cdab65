/**
 * Readiness: each dependency checked with a timeout; a failing one reports
 * its error and since when the current outage lasts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReadinessChecker } from '../../observability/health.js';

const T0 = new Date('2025-01-01T00:00:00.000Z');

/** A check that fails while `down.value` is true. */
function toggle(initiallyDown: boolean) {
  const down = { value: initiallyDown };
  const check = () => (down.value ? Promise.reject(new Error('connection refused\nat socket.connect')) : Promise.resolve());
  return { down, check };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ReadinessChecker', () => {
  it('is ready when every dependency answers', async () => {
    const checker = new ReadinessChecker({ temporal: async () => 'SERVING', postgres: () => Promise.resolve(1) });
    expect(await checker.check()).toEqual({
      ready: true,
      dependencies: [
        { name: 'temporal', ok: true },
        { name: 'postgres', ok: true },
      ],
    });
  });

  it('is ready with no dependencies to check', async () => {
    expect(await new ReadinessChecker({}).check()).toEqual({ ready: true, dependencies: [] });
  });

  it('names a failing dependency with the first line of its error', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const checker = new ReadinessChecker({ temporal: async () => undefined, postgres: toggle(true).check });
    expect(await checker.check()).toEqual({
      ready: false,
      dependencies: [
        { name: 'temporal', ok: true },
        { name: 'postgres', ok: false, error: 'connection refused', failingSince: T0.toISOString(), failingForSeconds: 0 },
      ],
    });
  });

  it('counts a check that throws synchronously as failing', async () => {
    const checker = new ReadinessChecker({
      docker: () => {
        throw new Error('socket missing');
      },
    });
    expect((await checker.check()).dependencies).toEqual([expect.objectContaining({ name: 'docker', ok: false, error: 'socket missing' })]);
  });

  it('keeps failingSince at the start of the outage across checks', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const checker = new ReadinessChecker({ postgres: toggle(true).check });
    await checker.check();
    vi.setSystemTime(T0.getTime() + 42_400);
    const [postgres] = (await checker.check()).dependencies;
    expect(postgres).toMatchObject({ ok: false, failingSince: T0.toISOString(), failingForSeconds: 42 });
  });

  it('clears failingSince on recovery and starts a new outage afresh', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { down, check } = toggle(true);
    const checker = new ReadinessChecker({ postgres: check });
    await checker.check();

    down.value = false;
    vi.setSystemTime(T0.getTime() + 10_000);
    expect(await checker.check()).toEqual({ ready: true, dependencies: [{ name: 'postgres', ok: true }] });

    down.value = true;
    vi.setSystemTime(T0.getTime() + 20_000);
    const [postgres] = (await checker.check()).dependencies;
    expect(postgres).toMatchObject({ ok: false, failingSince: new Date(T0.getTime() + 20_000).toISOString(), failingForSeconds: 0 });
  });

  it('tracks outages per dependency', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const postgres = toggle(true);
    const docker = toggle(false);
    const checker = new ReadinessChecker({ postgres: postgres.check, docker: docker.check });
    await checker.check();
    vi.setSystemTime(T0.getTime() + 5_000);
    docker.down.value = true;
    const report = await checker.check();
    expect(report.dependencies).toEqual([
      expect.objectContaining({ name: 'postgres', failingSince: T0.toISOString(), failingForSeconds: 5 }),
      expect.objectContaining({ name: 'docker', failingSince: new Date(T0.getTime() + 5_000).toISOString(), failingForSeconds: 0 }),
    ]);
  });

  it('fails a check that hangs once the timeout passes', async () => {
    const checker = new ReadinessChecker({ temporal: () => new Promise(() => undefined), postgres: async () => undefined }, 50);
    const started = performance.now();
    const report = await checker.check();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(report.ready).toBe(false);
    expect(report.dependencies).toEqual([
      expect.objectContaining({ name: 'temporal', ok: false, error: 'no answer within 50 ms' }),
      { name: 'postgres', ok: true },
    ]);
  });

  it('does not time out a check that answers within the timeout', async () => {
    const slowButFine = () => new Promise((done) => setTimeout(done, 20));
    const report = await new ReadinessChecker({ docker: slowButFine }, 500).check();
    expect(report).toEqual({ ready: true, dependencies: [{ name: 'docker', ok: true }] });
  });
});

/**
 * The warm pool on the real Docker engine: filled in the background, claimed
 * by rename (exclusive even between two processes of one host), destroyed at
 * release, recycled by age, rebuilt from Docker by a restarted worker
 * (adopting idle containers, keeping claimed ones, removing leftovers and
 * orphans), and carried through containers killed under it, as a restarted
 * dockerd does. Metrics as /metrics shows them.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { createMetrics, type Metrics } from '../../observability/metrics.js';
import { LABELS, SandboxNames } from '../../sandbox/container-spec.js';
import { DockerSandboxHost, SandboxGoneError, type DockerSandboxHostOptions } from '../../sandbox/docker-host.js';
import { docker, waitFor } from '../support/stack.js';

const image = inject('services').sandboxImage;
const seccompProfile = readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8');
const hosts: DockerSandboxHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0).reverse()) await h.stop({ destroy: true }).catch(() => {});
});

function makeHost(ids: { pool: string; hostId: string }, extra: Partial<DockerSandboxHostOptions> = {}): DockerSandboxHost {
  const host = new DockerSandboxHost({
    docker,
    ...ids,
    image,
    limits: { memoryMb: 128, cpus: 0.5, pidsLimit: 64, workspaceMb: 16, tmpMb: 16 },
    seccompProfile,
    outputLimitBytes: 4096,
    ...extra,
    warmPool: { minIdle: 2, maxTotal: 6, ...extra.warmPool },
  });
  hosts.push(host);
  return host;
}

const newIds = () => ({ pool: `pool${randomUUID().slice(0, 6)}`, hostId: `host-${randomUUID().slice(0, 6)}` });
const session = () => ({ tenantId: 'tenant-pool', sessionId: `ses_${randomUUID()}` });
const filled = (host: DockerSandboxHost, idle: number) => waitFor(() => host.stats().idle >= idle && host.stats().creating === 0, 30_000, `${idle} idle sandboxes`);
const containersOf = async (ids: { pool: string; hostId: string }) =>
  docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${ids.pool}`, `${LABELS.host}=${ids.hostId}`] } });
const nameOf = (c: { Names: string[] }) => (c.Names[0] ?? '').slice(1);

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(labels) && !l.startsWith('#'));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

describe('a warm pool', () => {
  it('keeps minIdle containers started, serves a claim from them, refills, and reports it', async () => {
    const ids = newIds();
    const metrics: Metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const host = makeHost(ids, { metrics });
    await host.start();
    await filled(host, 2);
    const idleBefore = (await containersOf(ids)).map((c) => c.Id);
    const claimed = await host.claim(session());
    expect(claimed.source).toBe('warm');
    expect(idleBefore).toContain(claimed.containerId);
    await filled(host, 2);
    expect(await containersOf(ids)).toHaveLength(3);
    expect((await host.exec(claimed.containerId, { key: 'k', command: 'echo warm', timeoutSeconds: 5 })).stdout).toBe('warm\n');
    const text = await metrics.registry.metrics();
    expect(metricValue(text, 'sandbox_claim_seconds_count', 'result="hit"')).toBe(1);
    expect(metricValue(text, 'sandbox_pool_idle')).toBe(2);
    expect(metricValue(text, 'sandbox_pool_in_use')).toBe(1);
    expect(metricValue(text, 'container_start_time_seconds_count')).toBe(3);
    expect(metricValue(text, 'sandbox_exec_seconds_count')).toBe(1);
  });

  it('destroys a released container with its workspace; the next session gets another', async () => {
    const ids = newIds();
    const host = makeHost(ids);
    await host.start();
    await filled(host, 2);
    const first = session();
    const a = await host.claim(first);
    await host.exec(a.containerId, { key: 'k', command: 'echo secret > /workspace/s', timeoutSeconds: 5 });
    const volume = (await docker.getContainer(a.containerId).inspect()).Mounts[0]?.Name as string;
    await host.release(first.sessionId);
    await expect(docker.getContainer(a.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(docker.getVolume(volume).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await filled(host, 2);
    const b = await host.claim(session());
    expect(b.containerId).not.toBe(a.containerId);
    expect((await host.exec(b.containerId, { key: 'k', command: 'ls -A /workspace', timeoutSeconds: 5 })).stdout).toBe('');
  });

  it('is exclusive between two processes of one host: each container goes to one session', async () => {
    const ids = newIds();
    const one = makeHost(ids);
    await one.start();
    await filled(one, 2);
    // A second worker process with the same identity (a misconfiguration, or a restart overlap) adopts the same idle containers.
    const two = makeHost(ids);
    await two.start();
    expect(two.stats().idle).toBe(2);
    const sessions = Array.from({ length: 4 }, session);
    const claims = await Promise.all(sessions.map((s, i) => (i % 2 === 0 ? one : two).claim(s)));
    expect(new Set(claims.map((c) => c.containerId)).size).toBe(4);
    for (const [i, c] of claims.entries()) {
      const info = await docker.getContainer(c.containerId).inspect();
      expect(info.Name).toBe(`/${one.names.session(sessions[i]?.sessionId ?? '')}`);
    }
  });

  it('recycles idle containers older than maxAge', async () => {
    const ids = newIds();
    const host = makeHost(ids, { warmPool: { minIdle: 1, maxAgeMs: 1_500, healthIntervalMs: 300 } });
    await host.start();
    await filled(host, 1);
    const [first] = await containersOf(ids);
    await waitFor(async () => {
      const now = await containersOf(ids);
      return now.length >= 1 && !now.some((c) => c.Id === first?.Id);
    }, 20_000, 'the first idle container to be replaced');
  });

  it('waits for room at maxTotal in wait mode, and serves the claim when a session releases', async () => {
    const ids = newIds();
    const host = makeHost(ids, { warmPool: { minIdle: 1, maxTotal: 2, whenEmpty: 'wait', waitTimeoutMs: 30_000 } });
    await host.start();
    await filled(host, 1);
    const a = session();
    await host.claim(a);
    await host.claim(session());
    const third = host.claim(session());
    await waitFor(() => host.stats().waiting === 1, 10_000, 'the third claim to wait');
    await host.release(a.sessionId);
    expect(await third).toMatchObject({ source: 'warm', created: true });
    expect(await containersOf(ids)).toHaveLength(2);
  });
});

describe("the engine's health check", () => {
  it("runs the image's own check at the host's interval: every 5 minutes by default, at 1 s when asked, never with 0", async () => {
    const imageTest = (await docker.getImage(image).inspect()).Config.Healthcheck?.Test;
    expect(imageTest?.[0]).toBe('CMD');
    // makeHost keeps each for afterEach to destroy.
    const intervals = [{ healthCheckIntervalMs: 1000 }, {}, { healthCheckIntervalMs: 0 }].map((o) => makeHost(newIds(), { ...o, warmPool: { minIdle: 0 } }));
    await Promise.all(intervals.map((h) => h.start()));
    const [fast, byDefault, off] = await Promise.all(intervals.map(async (h) => docker.getContainer((await h.claim(session())).containerId)));
    // The engine ran the image's test (it passes) once a second; its timeout and retries are the image's too.
    const ran = await waitFor(async () => {
      const info = await fast!.inspect();
      return (info.State.Health?.Log?.length ?? 0) >= 2 && info;
    }, 20_000, 'two health checks at 1 s');
    expect(ran.Config.Healthcheck).toMatchObject({ Test: imageTest, Interval: 1e9, Retries: 3 });
    expect(ran.State.Health?.Status).toBe('healthy');
    expect(ran.State.Health?.Log?.every((l) => l.ExitCode === 0)).toBe(true);
    // By default every 5 minutes, not the image's 30 s: each check is an exec in the container.
    expect((await byDefault!.inspect()).Config.Healthcheck).toMatchObject({ Test: imageTest, Interval: 300e9 });
    const none = await off!.inspect();
    expect(none.Config.Healthcheck?.Test).toEqual(['NONE']);
    expect(none.State.Health).toBeUndefined();
  });
});

describe('state rebuilt from Docker', () => {
  it('a restarted worker adopts idle containers, keeps claimed ones, removes leftovers and orphans', async () => {
    const ids = newIds();
    const before = makeHost(ids);
    await before.start();
    await filled(before, 2);
    const live = session();
    const ended = session();
    const liveClaim = await before.claim(live);
    const endedClaim = await before.claim(ended);
    await filled(before, 2);
    await before.stop();
    const idle = (await containersOf(ids)).filter((c) => nameOf(c).includes('-idle-')).map((c) => c.Id);
    expect(idle).toHaveLength(2);
    // What a crash leaves: a container of this host in no known state, a volume without its container.
    const leftover = await docker.createContainer({ Image: image, name: `leftover-${randomUUID().slice(0, 6)}`, Labels: { ...before.selector }, Cmd: ['true'] });
    const dangling = await docker.createVolume({ Name: `dangling-${randomUUID().slice(0, 6)}`, Labels: { ...before.selector } });
    // What a restarted engine lists again after losing a volume's metadata: one of this host's names, no labels, no options.
    const unlabelled = await docker.createVolume({ Name: `${before.names.idle(randomUUID().slice(0, 6))}-ws-abc123` });
    // Another host's (its names), and a stranger's: not this pool's to remove.
    const otherHost = new SandboxNames(`other-${randomUUID().slice(0, 6)}`, 'host-other');
    const foreign = [
      await docker.createVolume({ Name: `${otherHost.idle(randomUUID().slice(0, 6))}-ws-abc123` }),
      await docker.createVolume({ Name: `someone-else-${randomUUID().slice(0, 6)}` }),
    ];

    const after = makeHost(ids, { isOrphan: async (sessionId) => sessionId === ended.sessionId });
    await after.start();
    expect(after.stats()).toMatchObject({ idle: 2 });
    const now = (await containersOf(ids)).map((c) => c.Id);
    expect(now).toEqual(expect.arrayContaining([...idle, liveClaim.containerId, endedClaim.containerId]));
    expect(now).not.toContain(leftover.id);
    await expect(docker.getVolume(dangling.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(docker.getVolume(unlabelled.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    for (const v of foreign) {
      expect((await docker.getVolume(v.name).inspect()).Name).toBe(v.name);
      await docker.getVolume(v.name).remove();
    }
    expect(await after.claim(live)).toMatchObject({ containerId: liveClaim.containerId, source: 'existing' });
    expect(await after.reapOrphans()).toBe(1);
    await expect(docker.getContainer(endedClaim.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await after.claim(session())).source).toBe('warm');
  });

  it('goes on when its containers are killed under it, as a restarted dockerd does', async () => {
    const ids = newIds();
    const host = makeHost(ids, { warmPool: { minIdle: 2, healthIntervalMs: 500 } });
    await host.start();
    await filled(host, 2);
    const s = session();
    const claimed = await host.claim(s);
    await host.exec(claimed.containerId, { key: 'k1', command: 'echo a > /workspace/f', timeoutSeconds: 5 });
    await filled(host, 2);
    const all = await containersOf(ids);
    // dockerd stops every container when it restarts; these die the same way.
    await Promise.all(all.map((c) => docker.getContainer(c.Id).kill().catch(() => {})));
    await waitFor(async () => {
      const running = (await containersOf(ids)).filter((c) => c.State === 'running' && nameOf(c).includes('-idle-'));
      return running.length === 2 && running.every((c) => !all.some((old) => old.Id === c.Id)) && host.stats().idle === 2;
    }, 30_000, 'the pool to refill with new containers');
    await expect(host.exec(claimed.containerId, { key: 'k2', command: 'cat /workspace/f', timeoutSeconds: 5 })).rejects.toThrow(SandboxGoneError);
    const again = await host.claim(s);
    expect(again).toMatchObject({ replacedStopped: true, created: true });
    expect((await host.exec(again.containerId, { key: 'k3', command: 'cat /workspace/f 2>&1; echo here', timeoutSeconds: 5 })).stdout).toMatch(/No such file.*\nhere\n$/s);
  });
});

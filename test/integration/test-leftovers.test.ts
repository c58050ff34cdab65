/**
 * The sweep of what earlier runs left in Docker (test/support/leftovers.ts),
 * against the real engine and iptables: a test-pool host stopped as a
 * deployment stops (no `destroy`) leaves its warm container, workspace volume,
 * egress network and firewall chain; the sweep removes them once they are
 * older than a run could be, and keeps what is young, what is not a test
 * pool's, and a network something is still attached to. A closing stack
 * removes all of its own pool at once. With Docker's address pools used up,
 * a host's start says so and how to free one.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { LABELS } from '../../sandbox/container-spec.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { removeEgressNetwork } from '../../sandbox/egress.js';
import { removePoolLeftovers, removeTestLeftovers } from '../support/leftovers.js';
import { docker } from '../support/stack.js';

const services = inject('services');
const ELEVEN_MINUTES = 11 * 60_000;

const makeHost = (pool: string) =>
  new DockerSandboxHost({
    docker,
    pool,
    hostId: `leftover-${randomUUID().slice(0, 6)}`,
    image: services.sandboxImage,
    limits: { memoryMb: 128, cpus: 0.5, pidsLimit: 64, workspaceMb: 16, tmpMb: 16 },
    seccompProfile: readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8'),
    outputLimitBytes: 16 * 1024,
    warmPool: { minIdle: 1, maxTotal: 2 },
    egress: { port: 33_000 + Math.floor(Math.random() * 2_000), firewall: 'on' },
  });

/** A test stack's pool name (test/support/stack.ts) and one that is not a test's. */
const testPool = `t${randomBytes(4).toString('hex')}`;
const otherPool = `keep${randomBytes(3).toString('hex')}`;
let testNetwork: string;
let otherNetwork: string;
/** A test-pool network with a container of another pool attached. */
let busyNetwork: string;
let attached: string;

const ofPool = async (pool: string) => ({
  containers: (await docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${pool}`] } })).length,
  volumes: ((await docker.listVolumes({ filters: { label: [`${LABELS.pool}=${pool}`] } })).Volumes ?? []).length,
});
const networkExists = (name: string) =>
  docker
    .getNetwork(name)
    .inspect()
    .then(
      () => true,
      () => false,
    );
const chainOf = (network: string) => `KORTIX-EGRESS-${network.replace('kortix-egress-', '')}`;
const chainExists = (chain: string) => {
  try {
    execFileSync('iptables', ['-w', '-S', chain], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

async function startAndLeave(pool: string): Promise<string> {
  const host = makeHost(pool);
  await host.start();
  const deadline = Date.now() + 60_000;
  // Warm and idle (one still being made is removed at stop).
  while (host.stats().idle < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const network = (await docker.listNetworks({ filters: { label: [`${LABELS.pool}=${pool}`] } }))[0]?.Name;
  // As a deployment's worker stops: containers, volume and network stay for the next start.
  await host.stop();
  if (!network) throw new Error(`no egress network for ${pool}`);
  return network;
}

beforeAll(async () => {
  testNetwork = await startAndLeave(testPool);
  otherNetwork = await startAndLeave(otherPool);
  const busyPool = `t${randomBytes(4).toString('hex')}`;
  busyNetwork = `kortix-egress-${randomBytes(5).toString('hex')}`;
  await docker.createNetwork({ Name: busyNetwork, Internal: true, Labels: { [LABELS.managed]: 'true', [LABELS.pool]: busyPool } });
  const c = await docker.createContainer({ Image: services.sandboxImage, Cmd: ['sleep', '600'], Labels: { purpose: 'kortix-leftover-test' } });
  attached = c.id;
  await c.start();
  await docker.getNetwork(busyNetwork).connect({ Container: attached });
}, 180_000);

afterAll(async () => {
  await docker
    .getContainer(attached)
    .remove({ force: true })
    .catch(() => undefined);
  for (const pool of [testPool, otherPool]) await removePoolLeftovers(docker, pool);
  if (busyNetwork) await removeEgressNetwork(docker, busyNetwork, { firewall: true }).catch(() => undefined);
});

describe('the sweep of earlier runs\' leftovers', () => {
  it('finds a stopped host\'s container, volume, network and firewall chain left in place', async () => {
    expect(await ofPool(testPool)).toEqual({ containers: 1, volumes: 1 });
    expect(await networkExists(testNetwork)).toBe(true);
    expect(chainExists(chainOf(testNetwork))).toBe(true);
  });

  it('keeps everything that is younger than a run could be', async () => {
    await removeTestLeftovers(docker);
    expect(await ofPool(testPool)).toEqual({ containers: 1, volumes: 1 });
    expect(await networkExists(testNetwork)).toBe(true);
  });

  it('removes a test pool\'s old container, volume, network and chain; keeps another pool\'s and a network in use', async () => {
    const swept = await removeTestLeftovers(docker, Date.now() + ELEVEN_MINUTES);
    expect(swept.containers).toBeGreaterThanOrEqual(1);
    expect(swept.volumes).toBeGreaterThanOrEqual(1);
    expect(swept.networks).toBeGreaterThanOrEqual(1);
    expect(await ofPool(testPool)).toEqual({ containers: 0, volumes: 0 });
    expect(await networkExists(testNetwork)).toBe(false);
    expect(chainExists(chainOf(testNetwork))).toBe(false);
    // Not a test stack's pool (make dev's, a deployment's): untouched however old.
    expect(await ofPool(otherPool)).toEqual({ containers: 1, volumes: 1 });
    expect(await networkExists(otherNetwork)).toBe(true);
    expect(chainExists(chainOf(otherNetwork))).toBe(true);
    // A test pool's network something is attached to stays, and so does what is attached.
    expect(await networkExists(busyNetwork)).toBe(true);
    expect((await docker.getContainer(attached).inspect()).State.Running).toBe(true);
  });

  it('removes everything of one pool, however young, when its stack closes', async () => {
    const swept = await removePoolLeftovers(docker, otherPool);
    expect(swept).toEqual({ containers: 1, volumes: 1, networks: 1 });
    expect(await ofPool(otherPool)).toEqual({ containers: 0, volumes: 0 });
    expect(await networkExists(otherNetwork)).toBe(false);
    expect(chainExists(chainOf(otherNetwork))).toBe(false);
  });

  it('refuses to remove a network that is not an egress network', async () => {
    await expect(removeEgressNetwork(docker, 'bridge', { firewall: false })).rejects.toThrow(/bridge is not an egress network/);
    expect(await networkExists('bridge')).toBe(true);
  });
});

describe('a host whose egress network Docker cannot make', () => {
  it('says that no address pool is left and how to free one', async () => {
    // Use up Docker's address pools (31 by default; fewer are left where other networks hold some).
    const fillers: string[] = [];
    try {
      for (let i = 0; i < 64; i++) {
        const name = `kortix-filler-${randomBytes(4).toString('hex')}`;
        const made = await docker.createNetwork({ Name: name, Internal: true }).then(
          () => true,
          () => false,
        );
        if (!made) break;
        fillers.push(name);
      }
      const host = makeHost(`t${randomBytes(4).toString('hex')}`);
      await expect(host.start()).rejects.toThrow(/cannot create the egress network kortix-egress-\w+: Docker has no address pool left \(.*\); every egress network takes one: remove those of hosts that are gone \(`docker network ls --filter label=dev\.kortix\.managed`\)/);
      await host.stop({ destroy: true });
    } finally {
      for (const name of fillers) await docker.getNetwork(name).remove().catch(() => undefined);
    }
  }, 120_000);
});

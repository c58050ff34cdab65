/**
 * What test and bench runs leave in Docker, removed. A worker stopped without
 * `destroy` keeps its containers and egress network for its next start
 * (sandbox/docker-host.ts), and the worker processes of tests and benches
 * stop as a deployment's do (or are killed) under host ids never used again.
 * Each egress network takes one of Docker's 31 default address pools: once
 * they are gone, every session whose policy names hosts waits on a claim that
 * cannot succeed (two CI runs failed so, after a day of runs on one machine).
 *
 * - `removePoolLeftovers`: everything of one test's pool, every host's, once
 *   its processes have stopped (the stacks' `close`).
 * - `removeTestLeftovers`: before a run, what earlier runs left under test
 *   pool names (`t` + 8 hex: test/support/stack.ts; `c` + 8 hex:
 *   test/cluster/cluster-stack.ts), older than a run could still be using.
 *   `make dev`'s and a deployment's pools are never matched.
 */
import type Docker from 'dockerode';
import { LABELS } from '../../sandbox/container-spec.js';
import { removeEgressNetwork } from '../../sandbox/egress.js';

const TEST_POOL = /^[tc][0-9a-f]{8}$/;
/** Older than any run that could still be using it when the next one starts on the same machine. */
const MIN_AGE_MS = 10 * 60_000;

export interface LeftoverSweep {
  readonly containers: number;
  readonly volumes: number;
  readonly networks: number;
}

type Labels = Record<string, string> | null | undefined;
/** Whether a container, volume or network (by its labels and creation time) goes. */
type Selector = (labels: Labels, createdMs: number) => boolean;

export function removePoolLeftovers(docker: Docker, pool: string): Promise<LeftoverSweep> {
  return sweep(docker, (labels) => labels?.[LABELS.pool] === pool);
}

export function removeTestLeftovers(docker: Docker, now = Date.now()): Promise<LeftoverSweep> {
  return sweep(docker, (labels, createdMs) => TEST_POOL.test(labels?.[LABELS.pool] ?? '') && now - createdMs > MIN_AGE_MS);
}

async function sweep(docker: Docker, select: Selector): Promise<LeftoverSweep> {
  const managed = { label: [`${LABELS.managed}=true`] };
  const count = (removal: Promise<unknown>) => removal.then(() => 1, () => 0);

  let containers = 0;
  for (const c of await docker.listContainers({ all: true, filters: managed })) {
    if (select(c.Labels, c.Created * 1000)) containers += await count(docker.getContainer(c.Id).remove({ force: true, v: true }));
  }
  // Workspace volumes outlive their containers (named, not anonymous): the dangling ones.
  let volumes = 0;
  const { Volumes } = await docker.listVolumes({ filters: { ...managed, dangling: ['true'] } });
  for (const v of Volumes ?? []) {
    if (select(v.Labels, Date.parse((v as { CreatedAt?: string }).CreatedAt ?? ''))) volumes += await count(docker.getVolume(v.Name).remove());
  }
  let networks = 0;
  for (const n of await docker.listNetworks({ filters: managed })) {
    if (!select(n.Labels, Date.parse(n.Created))) continue;
    // Something still attached (a container of another pool, a run still going): not a leftover.
    const info = (await docker.getNetwork(n.Id).inspect()) as { Containers?: Record<string, unknown> | null };
    if (Object.keys(info.Containers ?? {}).length === 0) networks += await count(removeEgressNetwork(docker, n.Name, { firewall: true }));
  }
  return { containers, volumes, networks };
}

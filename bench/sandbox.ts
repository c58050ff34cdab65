/**
 * The sandbox host on the real Docker engine (no Temporal in the path):
 * - claim → first command (`true`) finished, warm pool vs cold start, in one
 *   run (rounds alternate, each from rest: the pool refilled);
 * - round trip of `true` in a claimed sandbox, over the exec channel and,
 *   for comparison, a one-shot `docker exec`: calls 100 ms apart (as a
 *   session's steps are), and back to back, where a sandbox limited to one
 *   CPU meets its CFS quota (each call costs ~10 ms of CPU across its processes);
 * - sessions per minute the pool sustains with maxTotal = 8 before claims
 *   wait: arrivals at a fixed rate, each session claiming, running one
 *   command, holding its sandbox for 1 s and releasing it; the rate is raised
 *   until a claim waits;
 * - memory per idle container (cgroup usage minus page cache, as `docker stats`).
 */
import { randomUUID } from 'node:crypto';
import { createMetrics } from '../observability/metrics.js';
import type { DockerSandboxHost, DockerSandboxHostOptions } from '../sandbox/docker-host.js';
import { benchDocker, benchSandboxHost } from './sandbox-host.js';
import { execOnce } from '../sandbox/one-shot-exec.js';
import { percentiles, type Summary } from './stats.js';

const docker = benchDocker;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SandboxBenchResult {
  limits: DockerSandboxHostOptions['limits'];
  claimToFirstCommandMs: { warm: Summary; cold: Summary; coldOverWarmP95: number };
  trueRoundTripMs: { channel: Summary; channelBackToBack: Summary; oneShotDockerExec: Summary; cpuMsPerCall: number };
  sessionsPerMinute: {
    maxTotal: number;
    minIdle: number;
    holdSeconds: number;
    steps: { perMinute: number; sessions: number; waited: number; cold: number; claimP95Ms: number }[];
    sustainedPerMinute: number;
  };
  idleContainerMemoryMb: Summary;
}

function makeHost(pool: string, warmPool: DockerSandboxHostOptions['warmPool']): DockerSandboxHost {
  return benchSandboxHost(pool, warmPool, { memoryMb: 256 }, { metrics: createMetrics({ service: 'bench', defaultMetrics: false }) });
}

async function settled(host: DockerSandboxHost, idle: number): Promise<void> {
  while (host.stats().idle < idle || host.stats().creating > 0) await sleep(20);
  await sleep(300);
}

const session = () => ({ tenantId: 'bench', sessionId: `ses_${randomUUID()}` });

/** Claim → `true` finished, warm and cold alternating, each from rest. */
async function claimToFirstCommand(rounds: number): Promise<SandboxBenchResult['claimToFirstCommandMs']> {
  const warmHost = makeHost(`bw${randomUUID().slice(0, 6)}`, { minIdle: 2, maxTotal: 8 });
  const coldHost = makeHost(`bc${randomUUID().slice(0, 6)}`, { minIdle: 0, maxTotal: 8 });
  await warmHost.start();
  await coldHost.start();
  const warm: number[] = [];
  const cold: number[] = [];
  try {
    for (let i = 0; i < rounds + 2; i++) {
      for (const [host, into] of [
        [warmHost, warm],
        [coldHost, cold],
      ] as const) {
        if (host === warmHost) await settled(host, 2);
        else await sleep(300);
        const s = session();
        const t0 = performance.now();
        const { containerId, source } = await host.claim(s);
        await host.exec(containerId, { key: 'first', command: 'true', timeoutSeconds: 10 });
        const ms = performance.now() - t0;
        if (source !== (host === warmHost ? 'warm' : 'cold')) throw new Error(`expected a ${host === warmHost ? 'warm' : 'cold'} claim, got ${source}`);
        if (i >= 2) into.push(ms); // the first two rounds warm up caches
        await host.release(s.sessionId);
      }
    }
  } finally {
    await warmHost.stop({ destroy: true });
    await coldHost.stop({ destroy: true });
  }
  const w = percentiles(warm);
  const c = percentiles(cold);
  return { warm: w, cold: c, coldOverWarmP95: Math.round((c.p95 / w.p95) * 10) / 10 };
}

/** `true` in one claimed sandbox: the exec channel, and one-shot `docker exec` of the same exec.sh. */
async function trueRoundTrip(n: number): Promise<SandboxBenchResult['trueRoundTripMs']> {
  const host = makeHost(`br${randomUUID().slice(0, 6)}`, { minIdle: 1, maxTotal: 2 });
  await host.start();
  try {
    await settled(host, 1);
    const { containerId } = await host.claim(session());
    await settled(host, 1);
    const time = async (calls: number, gapMs: number, call: (i: number) => Promise<unknown>) => {
      const ms: number[] = [];
      for (let i = 0; i < calls + 5; i++) {
        if (gapMs > 0) await sleep(gapMs);
        const t0 = performance.now();
        await call(i);
        if (i >= 5) ms.push(performance.now() - t0);
      }
      return percentiles(ms);
    };
    const cpu = async () => Number((await execOnce(docker, containerId, ['cat', '/sys/fs/cgroup/cpuacct/cpuacct.usage'])).stdout.toString());
    const before = await cpu();
    const channel = await time(n, 100, (i) => host.exec(containerId, { key: `spaced-${i}`, command: 'true', timeoutSeconds: 10 }));
    const cpuMsPerCall = Math.round(((await cpu()) - before) / 1e6 / (n + 5) * 10) / 10;
    const channelBackToBack = await time(n, 0, (i) => host.exec(containerId, { key: `b2b-${i}`, command: 'true', timeoutSeconds: 10 }));
    const oneShotDockerExec = await time(Math.min(n, 100), 100, () => execOnce(docker, containerId, ['true']));
    return { channel, channelBackToBack, oneShotDockerExec, cpuMsPerCall };
  } finally {
    await host.stop({ destroy: true });
  }
}

/** Raises the arrival rate until a claim has to wait (or go cold) with maxTotal = 8. */
async function sessionsPerMinute(holdSeconds: number, stepSeconds: number): Promise<SandboxBenchResult['sessionsPerMinute']> {
  const maxTotal = 8;
  const minIdle = 4;
  const steps: SandboxBenchResult['sessionsPerMinute']['steps'] = [];
  let sustained = 0;
  for (const perMinute of [60, 120, 180, 240, 300, 360, 420]) {
    const host = makeHost(`bs${randomUUID().slice(0, 6)}`, { minIdle, maxTotal, whenEmpty: 'wait', waitTimeoutMs: 60_000 });
    await host.start();
    await settled(host, minIdle);
    const claimsMs: number[] = [];
    let waited = 0;
    let cold = 0;
    const running: Promise<void>[] = [];
    const count = Math.round((perMinute / 60) * stepSeconds);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 60_000) / perMinute;
      await sleep(Math.max(0, due - performance.now()));
      running.push(
        (async () => {
          const s = session();
          const c0 = performance.now();
          const claim = await host.claim(s);
          claimsMs.push(performance.now() - c0);
          if (claim.waited) waited++;
          if (claim.source === 'cold') cold++;
          await host.exec(claim.containerId, { key: 'one', command: 'true', timeoutSeconds: 10 });
          await sleep(holdSeconds * 1000);
          await host.release(s.sessionId);
        })(),
      );
    }
    await Promise.all(running);
    await host.stop({ destroy: true });
    const p95 = percentiles(claimsMs).p95;
    steps.push({ perMinute, sessions: count, waited, cold, claimP95Ms: p95 });
    if (waited > 0 || cold > 0) break;
    sustained = perMinute;
  }
  return { maxTotal, minIdle, holdSeconds, steps, sustainedPerMinute: sustained };
}

/** Memory of idle containers (their init, sleep and exec channel), as `docker stats` computes it on cgroup v1. */
async function idleMemory(count: number): Promise<Summary> {
  const host = makeHost(`bm${randomUUID().slice(0, 6)}`, { minIdle: count, maxTotal: count });
  await host.start();
  try {
    await settled(host, count);
    await sleep(2_000);
    const mb: number[] = [];
    for (const c of await docker.listContainers({ filters: { label: Object.entries(host.selector).map(([k, v]) => `${k}=${v}`) } })) {
      const stats = (await docker.getContainer(c.Id).stats({ stream: false })) as unknown as {
        memory_stats: { usage: number; stats?: { cache?: number; total_inactive_file?: number } };
      };
      const cache = stats.memory_stats.stats?.total_inactive_file ?? stats.memory_stats.stats?.cache ?? 0;
      mb.push((stats.memory_stats.usage - cache) / 2 ** 20);
    }
    return percentiles(mb);
  } finally {
    await host.stop({ destroy: true });
  }
}

export async function benchSandbox(): Promise<SandboxBenchResult> {
  const claimToFirstCommandMs = await claimToFirstCommand(30);
  const trueRoundTripMs = await trueRoundTrip(200);
  const idleContainerMemoryMb = await idleMemory(8);
  const perMinute = await sessionsPerMinute(1, 20);
  const probe = makeHost('limits', {});
  return { limits: probe.limits, claimToFirstCommandMs, trueRoundTripMs, sessionsPerMinute: perMinute, idleContainerMemoryMb };
}

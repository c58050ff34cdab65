/**
 * The sandbox browser on the real Docker engine (no Temporal in the path):
 * - claim → first `goto` of a local page rendered, warm pool (browser started
 *   while the container waited) vs a cold container (container and browser
 *   started for the claim), alternating in one run, each from rest. The page
 *   is a file of the sandbox's workspace, written right after the claim (and
 *   inside the measured time): a warm sandbox has no network until a session's
 *   policy gives it one, so a served page would measure the egress path instead;
 * - memory per idle sandbox with its browser (cgroup usage minus inactive
 *   page cache, as `docker stats`), and how many fit in this machine's memory;
 * - one `extract` round trip on a loaded page, p50 / p95.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import Docker from 'dockerode';
import { loadConfig } from '../config/index.js';
import { DockerSandboxHost, type DockerSandboxHostOptions } from '../sandbox/docker-host.js';
import { percentiles, type Summary } from './stats.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAGE = `<!doctype html><title>Bench</title><h1>Hello</h1>${'<p>A paragraph of text with a <a href="#x">link</a>.</p>'.repeat(200)}`;

export interface BrowserBenchResult {
  limits: DockerSandboxHostOptions['limits'];
  claimToFirstGotoMs: { warm: Summary; cold: Summary; coldOverWarmP95: number; gotoOnlyWarm: Summary };
  idleSandboxMemoryMb: Summary & { count: number; fitInMachineMemory: number; machineMemoryMb: number };
  extractRoundTripMs: Summary;
}

function makeHost(pool: string, warmPool: DockerSandboxHostOptions['warmPool']): DockerSandboxHost {
  const config = loadConfig(process.env);
  return new DockerSandboxHost({
    docker,
    hostId: `bench-${pool}`,
    pool,
    image: config.SANDBOX_IMAGE,
    limits: { memoryMb: config.SANDBOX_MEMORY_MB, cpus: config.SANDBOX_CPUS, pidsLimit: config.SANDBOX_PIDS_LIMIT, workspaceMb: 16, tmpMb: config.SANDBOX_TMP_MB },
    seccompProfile: readFileSync(config.SANDBOX_SECCOMP_PROFILE, 'utf8'),
    outputLimitBytes: config.SANDBOX_OUTPUT_LIMIT_BYTES,
    warmPool,
    browser: { prewarm: true, heapMb: config.SANDBOX_BROWSER_HEAP_MB, downloadMaxMb: config.SANDBOX_BROWSER_DOWNLOAD_MAX_MB },
  });
}

async function settled(host: DockerSandboxHost, idle: number): Promise<void> {
  while (host.stats().idle < idle || host.stats().creating > 0) await sleep(50);
  await sleep(500);
}

const session = () => ({ tenantId: 'bench', sessionId: `ses_${randomUUID()}` });

async function firstGoto(host: DockerSandboxHost, containerId: string): Promise<number> {
  await host.writeFile(containerId, 'page.html', PAGE);
  const t = performance.now();
  const r = await host.browser(containerId, { action: 'goto', url: 'file:///workspace/page.html', timeout_s: 60 });
  if (!r.ok || r.title !== 'Bench') throw new Error(`the page did not render: ${JSON.stringify(r).slice(0, 300)}`);
  return performance.now() - t;
}

async function claimToFirstGoto(rounds: number): Promise<BrowserBenchResult['claimToFirstGotoMs']> {
  const warmHost = makeHost(`bbw${randomUUID().slice(0, 5)}`, { minIdle: 1, maxTotal: 4 });
  const coldHost = makeHost(`bbc${randomUUID().slice(0, 5)}`, { minIdle: 0, maxTotal: 4 });
  await warmHost.start();
  await coldHost.start();
  const warm: number[] = [];
  const cold: number[] = [];
  const gotoOnly: number[] = [];
  try {
    for (let i = 0; i < rounds + 1; i++) {
      for (const [host, into] of [
        [warmHost, warm],
        [coldHost, cold],
      ] as const) {
        if (host === warmHost) await settled(host, 1);
        else await sleep(500);
        const s = session();
        const t0 = performance.now();
        const { containerId, source } = await host.claim(s);
        const g = await firstGoto(host, containerId);
        const ms = performance.now() - t0;
        if (source !== (host === warmHost ? 'warm' : 'cold')) throw new Error(`expected a ${host === warmHost ? 'warm' : 'cold'} claim, got ${source}`);
        if (i >= 1) {
          into.push(ms); // the first round warms up caches
          if (host === warmHost) gotoOnly.push(g);
        }
        await host.release(s.sessionId);
      }
    }
  } finally {
    await warmHost.stop({ destroy: true });
    await coldHost.stop({ destroy: true });
  }
  const w = percentiles(warm);
  const c = percentiles(cold);
  return { warm: w, cold: c, coldOverWarmP95: Math.round((c.p95 / w.p95) * 10) / 10, gotoOnlyWarm: percentiles(gotoOnly) };
}

async function idleMemory(count: number): Promise<BrowserBenchResult['idleSandboxMemoryMb']> {
  const host = makeHost(`bbm${randomUUID().slice(0, 5)}`, { minIdle: count, maxTotal: count });
  await host.start();
  try {
    await settled(host, count);
    await sleep(5_000);
    const mb: number[] = [];
    for (const c of await docker.listContainers({ filters: { label: Object.entries(host.selector).map(([k, v]) => `${k}=${v}`) } })) {
      const stats = (await docker.getContainer(c.Id).stats({ stream: false })) as unknown as {
        memory_stats: { usage: number; stats?: { cache?: number; total_inactive_file?: number; inactive_file?: number } };
      };
      const s = stats.memory_stats.stats;
      const inactive = s?.total_inactive_file ?? s?.inactive_file ?? s?.cache ?? 0;
      mb.push((stats.memory_stats.usage - inactive) / 2 ** 20);
    }
    const summary = percentiles(mb);
    const machineMemoryMb = Math.round(totalmem() / 2 ** 20);
    return { ...summary, count: mb.length, machineMemoryMb, fitInMachineMemory: Math.floor(machineMemoryMb / Math.max(summary.p50, 1)) };
  } finally {
    await host.stop({ destroy: true });
  }
}

async function extractRoundTrip(n: number): Promise<Summary> {
  const host = makeHost(`bbe${randomUUID().slice(0, 5)}`, { minIdle: 1, maxTotal: 2 });
  await host.start();
  try {
    await settled(host, 1);
    const s = session();
    const { containerId } = await host.claim(s);
    await firstGoto(host, containerId);
    const ms: number[] = [];
    for (let i = 0; i < n + 5; i++) {
      await sleep(50);
      const t = performance.now();
      const r = await host.browser(containerId, { action: 'extract' });
      if (!r.ok) throw new Error(`extract failed: ${r.error}`);
      if (i >= 5) ms.push(performance.now() - t);
    }
    return percentiles(ms);
  } finally {
    await host.stop({ destroy: true });
  }
}

export async function benchBrowser(): Promise<BrowserBenchResult> {
  const claimToFirstGotoMs = await claimToFirstGoto(20);
  const extractRoundTripMs = await extractRoundTrip(100);
  const idleSandboxMemoryMb = await idleMemory(4);
  return { limits: makeHost('limits', {}).limits, claimToFirstGotoMs, idleSandboxMemoryMb, extractRoundTripMs };
}

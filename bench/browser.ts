/**
 * The sandbox browser on the real Docker engine (no Temporal in the path):
 * - claim → first `goto` of a local page rendered, warm pool (browser started
 *   while the container waited) vs a cold container (container and browser
 *   started for the claim), alternating in one run, each from rest. The page
 *   is a file of the sandbox's workspace, written right after the claim by a
 *   shell command (the exec channel, as a session's `shell` call) inside the
 *   measured time: a warm sandbox has no network until a session's policy
 *   gives it one. The warm time is also split (claim, write, goto);
 * - the same, warm, for a session whose policy names a host: the claim joins
 *   the egress network (docker network connect) and the goto loads a page
 *   served by this process through the egress proxy;
 * - memory per idle sandbox with its browser (cgroup usage minus inactive
 *   page cache, as `docker stats`), and how many fit in this machine's memory;
 * - one `extract` round trip on a loaded page, p50 / p95.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { totalmem } from 'node:os';
import type { DockerSandboxHost, DockerSandboxHostOptions } from '../sandbox/docker-host.js';
import { benchDocker, benchPrewarmedBrowser, benchSandboxHost } from './sandbox-host.js';
import { hostAddress } from '../test/support/host-address.js';
import { percentiles, type Summary } from './stats.js';

const docker = benchDocker;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAGE = `<!doctype html><title>Bench</title><h1>Hello</h1>${'<p>A paragraph of text with a <a href="#x">link</a>.</p>'.repeat(200)}`;

export interface BrowserBenchResult {
  limits: DockerSandboxHostOptions['limits'];
  claimToFirstGotoMs: { warm: Summary; cold: Summary; coldOverWarmP95: number; claimOnlyWarm: Summary; writeOnlyWarm: Summary; gotoOnlyWarm: Summary };
  /** Warm, on the egress network: claim (network connect included) → first goto of a served page. */
  egressClaimToFirstGotoMs: { total: Summary; claim: Summary; goto: Summary };
  idleSandboxMemoryMb: Summary & { count: number; fitInMachineMemory: number; machineMemoryMb: number };
  extractRoundTripMs: Summary;
}

function makeHost(pool: string, warmPool: DockerSandboxHostOptions['warmPool'], egress?: DockerSandboxHostOptions['egress']): DockerSandboxHost {
  return benchSandboxHost(pool, warmPool, { workspaceMb: 16 }, { browser: benchPrewarmedBrowser(), egress });
}

async function settled(host: DockerSandboxHost, idle: number): Promise<void> {
  while (host.stats().idle < idle || host.stats().creating > 0) await sleep(50);
  await sleep(500);
}

const session = () => ({ tenantId: 'bench', sessionId: `ses_${randomUUID()}` });

/** Writes the page with a shell command (the exec channel) and loads it: [write ms, goto ms]. */
async function firstGoto(host: DockerSandboxHost, containerId: string): Promise<[number, number]> {
  const t0 = performance.now();
  const w = await host.exec(containerId, { key: randomUUID(), command: `cat > page.html <<'EOF'\n${PAGE}\nEOF`, timeoutSeconds: 30 });
  if (w.exitCode !== 0) throw new Error(`the page was not written: ${w.stderr}`);
  const t1 = performance.now();
  await goto(host, containerId, 'file:///workspace/page.html');
  return [t1 - t0, performance.now() - t1];
}

async function goto(host: DockerSandboxHost, containerId: string, url: string): Promise<void> {
  const r = await host.browser(containerId, { action: 'goto', url, timeout_s: 60 });
  if (!r.ok || r.title !== 'Bench') throw new Error(`the page did not render: ${JSON.stringify(r).slice(0, 300)}`);
}

async function claimToFirstGoto(rounds: number): Promise<BrowserBenchResult['claimToFirstGotoMs']> {
  const warmHost = makeHost(`bbw${randomUUID().slice(0, 5)}`, { minIdle: 1, maxTotal: 4 });
  const coldHost = makeHost(`bbc${randomUUID().slice(0, 5)}`, { minIdle: 0, maxTotal: 4 });
  await warmHost.start();
  await coldHost.start();
  const warm: number[] = [];
  const cold: number[] = [];
  const claimOnly: number[] = [];
  const writeOnly: number[] = [];
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
        const claimed = performance.now() - t0;
        const [write, g] = await firstGoto(host, containerId);
        const ms = performance.now() - t0;
        if (source !== (host === warmHost ? 'warm' : 'cold')) throw new Error(`expected a ${host === warmHost ? 'warm' : 'cold'} claim, got ${source}`);
        if (i >= 1) {
          into.push(ms); // the first round warms up caches
          if (host === warmHost) {
            claimOnly.push(claimed);
            writeOnly.push(write);
            gotoOnly.push(g);
          }
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
  return {
    warm: w,
    cold: c,
    coldOverWarmP95: Math.round((c.p95 / w.p95) * 10) / 10,
    claimOnlyWarm: percentiles(claimOnly),
    writeOnlyWarm: percentiles(writeOnly),
    gotoOnlyWarm: percentiles(gotoOnly),
  };
}

async function egressClaimToFirstGoto(rounds: number): Promise<BrowserBenchResult['egressClaimToFirstGotoMs']> {
  const site = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
  await new Promise<void>((r) => site.listen(0, '0.0.0.0', () => r()));
  const where = `${hostAddress()}:${(site.address() as { port: number }).port}`;
  const host = makeHost(`bbn${randomUUID().slice(0, 5)}`, { minIdle: 1, maxTotal: 3 }, { port: 34_000 + Math.floor(Math.random() * 1_000), firewall: 'auto' });
  await host.start();
  const total: number[] = [];
  const claim: number[] = [];
  const load: number[] = [];
  try {
    for (let i = 0; i < rounds + 1; i++) {
      await settled(host, 1);
      const s = session();
      const t0 = performance.now();
      const { containerId, source } = await host.claim(s, { network: [where] });
      const t1 = performance.now();
      await goto(host, containerId, `http://${where}/`);
      const t2 = performance.now();
      if (source !== 'warm') throw new Error(`expected a warm claim, got ${source}`);
      if (i >= 1) {
        total.push(t2 - t0);
        claim.push(t1 - t0);
        load.push(t2 - t1);
      }
      await host.release(s.sessionId);
    }
  } finally {
    await host.stop({ destroy: true });
    site.close();
  }
  return { total: percentiles(total), claim: percentiles(claim), goto: percentiles(load) };
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
  const egressClaimToFirstGotoMs = await egressClaimToFirstGoto(20);
  const extractRoundTripMs = await extractRoundTrip(100);
  const idleSandboxMemoryMb = await idleMemory(4);
  return { limits: makeHost('limits', {}).limits, claimToFirstGotoMs, egressClaimToFirstGotoMs, idleSandboxMemoryMb, extractRoundTripMs };
}

/**
 * What the sandbox side costs the machine in CPU (issue 16: a tool step's and a session's share of the 2 cores), on the
 * real Docker engine, no Temporal in the path:
 * - per tool call: `true` over a claimed sandbox's exec channel, back to back (sandbox/exec.sh's forks and execs, the
 *   channel's trip through dockerd and the container's shim), and the throughput bench's command, which prints (the
 *   multi-step scenario's `echo … >> steps.log && wc -l < steps.log`: exec.sh measures and prints its capture);
 * - per sandbox: a cold claim (volume, container, start, exec channel), one `true`, and the release that removes it,
 *   one after another (runc, the shim, the kernel's namespaces and mounts, dockerd).
 * - per held sandbox and second with nothing running in it (a session waiting on its model), with Docker's health
 *   check of the image at its own interval (sandbox/Dockerfile's, read from the image) and with none: each check
 *   is an exec in the container (runc, the shim, dockerd, the check's bash), so the difference is what one check
 *   costs; and, without the check, sandboxes claimed from a warm pool whose browser was started while they waited
 *   (SANDBOX_BROWSER=prewarm, the default): a claimed sandbox keeps that headless Chromium, idle, for the session's
 *   life.
 * Each as the machine's busy CPU from /proc/stat (every process and the kernel: most of a container's start is in
 * short-lived processes no group holds), and the part of it in the containers' own cgroup and in Docker's daemons.
 * Machine-wide: run it on a quiet machine.
 */
import { randomUUID } from 'node:crypto';
import { createMetrics } from '../observability/metrics.js';
import { cpuByGroup } from './cpu-profile.js';
import { loadConfig } from '../config/index.js';
import { benchDocker, benchPrewarmedBrowser, benchSandboxHost } from './sandbox-host.js';
import { machineCpu } from './sustained.js';

export interface SandboxCpu {
  /** Machine busy CPU ms per unit, and the containers' and Docker daemons' parts of it. */
  machineMs: number;
  containersMs: number;
  dockerMs: number;
  /** Wall time per unit, one after another. */
  wallMs: number;
}

/** What sandboxes held idle cost the machine, per sandbox and second, over what the machine used with none. */
export interface IdleSandboxCpu {
  /** How often the engine ran the image's health check in each (SANDBOX_ENGINE_HEALTHCHECK_INTERVAL; 0: never). */
  healthCheckIntervalMs: number;
  /** Claimed warm with the browser prewarmed (a headless Chromium idle in each), rather than cold without one. */
  browser: boolean;
  sandboxes: number;
  seconds: number;
  machineMs: number;
  containersMs: number;
  dockerMs: number;
}

export interface SandboxCpuResult {
  calls: number;
  perToolCall: SandboxCpu;
  /** The same number of calls of OUTPUT_COMMAND. */
  perToolCallWithOutput: SandboxCpu;
  /** Absent with `callsOnly`, as the parts below. */
  lifecycles?: number;
  perSandbox?: SandboxCpu;
  /** The machine with no sandbox, then sandboxes held idle: with the image's own health check interval, with none, and with none but their browser. */
  idle?: { baselineMachineMsPerSecond: number; perSandboxSecond: IdleSandboxCpu[]; perEngineHealthCheckMs: number };
}

/** mock-llm/scenarios/multi-step.yaml's command, as the throughput bench's sessions run it: one line out. */
const OUTPUT_COMMAND = (i: number) => `echo step ${i} >> /workspace/steps.log && wc -l < /workspace/steps.log`;

/** The image's own HEALTHCHECK interval (sandbox/Dockerfile), as the engine ran it in every sandbox before: read from the image the bench runs. */
async function imageHealthCheckMs(): Promise<number> {
  const image = loadConfig(process.env).SANDBOX_IMAGE;
  const ns = (await benchDocker.getImage(image).inspect()).Config.Healthcheck?.Interval;
  if (!ns) throw new Error(`sandbox-cpu: the image ${image} has no HEALTHCHECK interval to measure against`);
  return ns / 1e6;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The machine settles after the loop (a removal's last work is asynchronous) before the second reading. */
const SETTLE_MS = 2_000;

/** `body` run `units` times (or once, `runs: 1`, for a body that is the whole span), the costs divided by `units`. */
async function measure(units: number, body: (i: number) => Promise<unknown>, options: { decimals?: number; runs?: number } = {}): Promise<SandboxCpu> {
  const decimals = options.decimals ?? 1;
  const groups0 = cpuByGroup('-');
  const cpu0 = machineCpu(0);
  const t0 = performance.now();
  for (let i = 0; i < (options.runs ?? units); i++) await body(i);
  const wall = performance.now() - t0;
  await sleep(SETTLE_MS);
  const cpu1 = machineCpu(0);
  const groups1 = cpuByGroup('-');
  const since = (k: string) => (groups1[k] ?? Number.NaN) - (groups0[k] ?? Number.NaN);
  const per = (seconds: number) => Math.round((seconds * 1000 * 10 ** decimals) / units) / 10 ** decimals;
  return { machineMs: per((cpu1.busy - cpu0.busy) / 100), containersMs: per(since('containers')), dockerMs: per(since('docker')), wallMs: Math.round((wall / units) * 10) / 10 };
}

/** The machine's busy CPU ms per second with nothing of ours running. */
async function baselineMsPerSecond(seconds: number): Promise<number> {
  const cpu0 = machineCpu(0);
  await sleep(seconds * 1000);
  return ((machineCpu(0).busy - cpu0.busy) / 100 / seconds) * 1000;
}

/**
 * `sandboxes` claimed, each after one call (its exec channel open, as a session's after its first tool call), then
 * held with nothing running for `seconds`, once every one has reached its check's rhythm (the engine runs the
 * first check one interval after the start).
 */
async function idleCost(healthCheckIntervalMs: number, browser: boolean, sandboxes: number, seconds: number, baselineMs: number): Promise<IdleSandboxCpu> {
  const metrics = createMetrics({ service: 'bench', defaultMetrics: false });
  const host = benchSandboxHost(
    `bidle${randomUUID().slice(0, 6)}`,
    { minIdle: browser ? sandboxes : 0, maxTotal: sandboxes },
    {},
    { metrics, healthCheckIntervalMs, ...(browser ? { browser: benchPrewarmedBrowser() } : {}) },
  );
  await host.start();
  try {
    // Warm: every sandbox made and its browser started (the pool counts one idle once its browser answers).
    while (browser && (host.stats().idle < sandboxes || host.stats().creating > 0)) await sleep(100);
    for (let i = 0; i < sandboxes; i++) {
      const { containerId } = await host.claim({ tenantId: 'bench', sessionId: `ses_${randomUUID()}` });
      await host.exec(containerId, { key: `idle-${i}`, command: 'true', timeoutSeconds: 10 });
    }
    // A browser's own start-up work (a few seconds after it answers) is not its idle cost.
    await sleep(healthCheckIntervalMs + SETTLE_MS + (browser ? 10_000 : 0));
    const cost = await measure(sandboxes * seconds, () => sleep(seconds * 1000), { decimals: 2, runs: 1 });
    // The machine's own share (its idle baseline, over the window and SETTLE_MS) is not the sandboxes'.
    const machineMs = Math.round((cost.machineMs - (baselineMs * (seconds + SETTLE_MS / 1000)) / (sandboxes * seconds)) * 100) / 100;
    return { healthCheckIntervalMs, browser, sandboxes, seconds, machineMs, containersMs: cost.containersMs, dockerMs: cost.dockerMs };
  } finally {
    await host.stop({ destroy: true });
  }
}

/** Per tool call (both commands) and per sandbox's whole life (none when `lifecycles` is 0), on one host. */
async function callAndLifecycleCost(calls: number, lifecycles: number): Promise<Pick<SandboxCpuResult, 'perToolCall' | 'perToolCallWithOutput' | 'perSandbox'>> {
  const host = benchSandboxHost(`bcpu${randomUUID().slice(0, 6)}`, { minIdle: 0, maxTotal: 4 }, {}, { metrics: createMetrics({ service: 'bench', defaultMetrics: false }) });
  await host.start();
  try {
    const held = { tenantId: 'bench', sessionId: `ses_${randomUUID()}` };
    const { containerId } = await host.claim(held);
    // The first calls make what exec.sh keeps for the container (its directory, the tick fifo).
    for (let i = 0; i < 5; i++) await host.exec(containerId, { key: `warm-${i}`, command: 'true', timeoutSeconds: 10 });
    const perToolCall = await measure(calls, (i) => host.exec(containerId, { key: `call-${i}`, command: 'true', timeoutSeconds: 10 }));
    const perToolCallWithOutput = await measure(calls, async (i) => {
      const r = await host.exec(containerId, { key: `out-${i}`, command: OUTPUT_COMMAND(i), timeoutSeconds: 10 });
      if (r.stdout !== `${i + 1}\n`) throw new Error(`call ${i} printed ${JSON.stringify(r.stdout)}`);
    });
    await host.release(held.sessionId);
    if (lifecycles === 0) return { perToolCall, perToolCallWithOutput };
    const perSandbox = await measure(lifecycles, async (i) => {
      const s = { tenantId: 'bench', sessionId: `ses_${randomUUID()}` };
      const claimed = await host.claim(s);
      await host.exec(claimed.containerId, { key: `life-${i}`, command: 'true', timeoutSeconds: 10 });
      await host.release(s.sessionId);
    });
    return { perToolCall, perToolCallWithOutput, perSandbox };
  } finally {
    await host.stop({ destroy: true });
  }
}

/** `callsOnly`: the per-call costs alone (a minute, for A B sittings of sandbox/exec.sh). */
export async function benchSandboxCpu(options: { callsOnly?: boolean } = {}, calls = 300, lifecycles = 30, idleSandboxes = 40, idleSeconds = 60): Promise<SandboxCpuResult> {
  if (options.callsOnly) return { calls, ...(await callAndLifecycleCost(calls, 0)) };
  const { perToolCall, perToolCallWithOutput, perSandbox } = await callAndLifecycleCost(calls, lifecycles);
  const baselineMachineMsPerSecond = Math.round((await baselineMsPerSecond(idleSeconds / 2)) * 10) / 10;
  const perSandboxSecond = [];
  const imageIntervalMs = await imageHealthCheckMs();
  for (const [interval, browser] of [[imageIntervalMs, false], [0, false], [0, true]] as const) {
    perSandboxSecond.push(await idleCost(interval, browser, idleSandboxes, idleSeconds, baselineMachineMsPerSecond));
  }
  const [withCheck, without] = perSandboxSecond as [IdleSandboxCpu, IdleSandboxCpu];
  const perEngineHealthCheckMs = Math.round((withCheck.machineMs - without.machineMs) * (imageIntervalMs / 1000) * 10) / 10;
  return { calls, perToolCall, perToolCallWithOutput, lifecycles, perSandbox, idle: { baselineMachineMsPerSecond, perSandboxSecond, perEngineHealthCheckMs } };
}

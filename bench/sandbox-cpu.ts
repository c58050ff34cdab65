/**
 * What the sandbox side costs the machine in CPU (issue 16: a tool step's and a session's share of the 2 cores), on the
 * real Docker engine, no Temporal in the path:
 * - per tool call: `true` over a claimed sandbox's exec channel, back to back (sandbox/exec.sh's forks and execs, the
 *   channel's trip through dockerd and the container's shim);
 * - per sandbox: a cold claim (volume, container, start, exec channel), one `true`, and the release that removes it,
 *   one after another (runc, the shim, the kernel's namespaces and mounts, dockerd).
 * Each as the machine's busy CPU from /proc/stat (every process and the kernel: most of a container's start is in
 * short-lived processes no group holds), and the part of it in the containers' own cgroup and in Docker's daemons.
 * Machine-wide: run it on a quiet machine.
 */
import { randomUUID } from 'node:crypto';
import { createMetrics } from '../observability/metrics.js';
import { cpuByGroup } from './cpu-profile.js';
import { benchSandboxHost } from './sandbox-host.js';
import { machineCpu } from './sustained.js';

export interface SandboxCpu {
  /** Machine busy CPU ms per unit, and the containers' and Docker daemons' parts of it. */
  machineMs: number;
  containersMs: number;
  dockerMs: number;
  /** Wall time per unit, one after another. */
  wallMs: number;
}

export interface SandboxCpuResult {
  calls: number;
  lifecycles: number;
  perToolCall: SandboxCpu;
  perSandbox: SandboxCpu;
}

/** The machine settles after the loop (a removal's last work is asynchronous) before the second reading. */
const SETTLE_MS = 2_000;

async function measure(units: number, body: (i: number) => Promise<unknown>): Promise<SandboxCpu> {
  const groups0 = cpuByGroup('-');
  const cpu0 = machineCpu(0);
  const t0 = performance.now();
  for (let i = 0; i < units; i++) await body(i);
  const wall = performance.now() - t0;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const cpu1 = machineCpu(0);
  const groups1 = cpuByGroup('-');
  const since = (k: string) => (groups1[k] ?? Number.NaN) - (groups0[k] ?? Number.NaN);
  const per = (seconds: number) => Math.round((seconds * 1000 * 10) / units) / 10;
  return { machineMs: per((cpu1.busy - cpu0.busy) / 100), containersMs: per(since('containers')), dockerMs: per(since('docker')), wallMs: Math.round((wall / units) * 10) / 10 };
}

export async function benchSandboxCpu(calls = 300, lifecycles = 30): Promise<SandboxCpuResult> {
  const host = benchSandboxHost(`bcpu${randomUUID().slice(0, 6)}`, { minIdle: 0, maxTotal: 4 }, {}, { metrics: createMetrics({ service: 'bench', defaultMetrics: false }) });
  await host.start();
  try {
    const held = { tenantId: 'bench', sessionId: `ses_${randomUUID()}` };
    const { containerId } = await host.claim(held);
    // The first calls make what exec.sh keeps for the container (its directory, the tick fifo).
    for (let i = 0; i < 5; i++) await host.exec(containerId, { key: `warm-${i}`, command: 'true', timeoutSeconds: 10 });
    const perToolCall = await measure(calls, (i) => host.exec(containerId, { key: `call-${i}`, command: 'true', timeoutSeconds: 10 }));
    await host.release(held.sessionId);
    const perSandbox = await measure(lifecycles, async (i) => {
      const s = { tenantId: 'bench', sessionId: `ses_${randomUUID()}` };
      const claimed = await host.claim(s);
      await host.exec(claimed.containerId, { key: `life-${i}`, command: 'true', timeoutSeconds: 10 });
      await host.release(s.sessionId);
    });
    return { calls, lifecycles, perToolCall, perSandbox };
  } finally {
    await host.stop({ destroy: true });
  }
}

/**
 * A shell call past its host deadline whose command took every process slot of its sandbox
 * (sandbox/deadline-reap.ts): the command stops exec.sh (its timer runs as the same user, so nothing in the
 * sandbox ends the call) and forks until the pids limit refuses more. The host's reap still gets in and kills
 * it all, because it forks nothing there: a reap that needed a new process (an external `pkill`, a pipe) would
 * wait on the limit until its own timeout, and the sandbox would stay full.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DockerSandboxHost, SandboxToolError } from '../../sandbox/docker-host.js';
import { docker } from '../support/stack.js';

const services = inject('services');
const PIDS_LIMIT = 48;
const host = new DockerSandboxHost({
  docker,
  hostId: 'deadline-reap-test',
  pool: `reap${randomUUID().slice(0, 6)}`,
  image: services.sandboxImage,
  limits: { memoryMb: 128, cpus: 1, pidsLimit: PIDS_LIMIT, workspaceMb: 16, tmpMb: 8 },
  outputLimitBytes: 1024,
  execDeadlineGraceMs: 4_000,
  warmPool: { minIdle: 0, maxTotal: 1 },
});
let sandbox: string;
let n = 0;
const run = (command: string, timeoutSeconds: number) => host.exec(sandbox, { key: `reap-${n++}`, command, timeoutSeconds });

beforeAll(async () => {
  await host.start();
  sandbox = (await host.claim({ tenantId: 'tenant-reap', sessionId: `ses_${randomUUID()}` })).containerId;
});
afterAll(async () => {
  await host.stop({ destroy: true });
});

/** The sandbox's processes, as the engine lists them (its pids cgroup). */
async function processCount(): Promise<number> {
  return (await docker.getContainer(sandbox).top()).Processes?.length ?? 0;
}

describe('a call past its deadline whose command took every process slot', () => {
  it('is reaped all the same, and the sandbox serves the next call', async () => {
    expect((await run('echo ready', 5)).stdout).toBe('ready\n');
    // exec.sh stopped, then sleeps forked until the limit refuses more.
    const call = run('kill -STOP $PPID; while :; do sleep 600 & done 2>/dev/null', 3);
    const settled = call.catch((e: unknown) => e);
    // The sandbox is full before the deadline (3 s + 4 s): no fork can succeed in it now.
    let most = 0;
    for (let i = 0; i < 50 && most < PIDS_LIMIT; i++) {
      most = Math.max(most, await processCount());
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(most).toBe(PIDS_LIMIT);
    const err = await settled;
    expect(err).toBeInstanceOf(SandboxToolError);
    expect((err as Error).message).toBe("the sandbox gave no complete answer within 7 s: every process of the sandbox's user was killed");
    expect((await run('echo next', 5)).stdout).toBe('next\n');
    // The command's `sleep 600`s, by their command lines (PID 1 keeps a `sleep 86400` of its own).
    const sleeps = `n=0; for p in /proc/[0-9]*; do mapfile -d '' a < "$p/cmdline" 2>/dev/null && [ "\${a[0]}" = sleep ] && [ "\${a[1]}" = 600 ] && n=$((n + 1)); done; echo $n`;
    expect((await run(sleeps, 5)).stdout).toBe('0\n');
    expect(await processCount()).toBeLessThan(10);
  });
});

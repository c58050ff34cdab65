/**
 * Sandboxes in a user namespace: under dockerd's `userns-remap`, uid 1000 in
 * a sandbox is a subordinate uid of the host, not the host's uid 1000.
 *
 * scripts/provision/docker.sh turns remapping on for an engine it starts on a
 * machine whose Docker has no state yet; an engine that already ran without it
 * keeps running so (its images and containers live in the other store). So
 * that the claim is checked on every machine, this file starts an engine of
 * its own next to the shared one (own socket, data and exec roots, a bridge
 * of its own, no iptables) with `--userns-remap=default`, loads the sandbox
 * image into it, and runs a real sandbox host on it. Root only (starting
 * dockerd needs it).
 *
 * Not `--bridge=none`: a dockerd started so deletes the host's docker0, the
 * shared engine's default bridge.
 */
import { execFileSync, execSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { remappedRoot, SANDBOX_UID } from '../../sandbox/container-spec.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { docker as sharedDocker, waitFor } from '../support/stack.js';

const services = inject('services');
const runDir = '/run/kortix-userns-test';
const socket = `${runDir}/docker.sock`;
/** The second engine's default bridge, made here (dockerd only creates docker0 itself). */
const bridge = 'kortix-uns0';
const hasDockerd = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v dockerd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const canStartEngine = process.getuid?.() === 0 && hasDockerd;

let engine: ReturnType<typeof spawn> | undefined;
let docker: Docker;
let host: DockerSandboxHost;
let containerId: string;
let n = 0;
const run = (command: string) => host.exec(containerId, { key: `userns-${n++}`, command, timeoutSeconds: 20 });

/** uid_map and Uid of a process on the host: `inside outside count` lines, and its real uid as the host sees it. */
function hostView(pid: number): { uidMap: number[][]; hostUid: number } {
  const uidMap = readFileSync(`/proc/${pid}/uid_map`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hostUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
  return { uidMap, hostUid };
}

beforeAll(async () => {
  if (!canStartEngine) return;
  mkdirSync(runDir, { recursive: true });
  try {
    execFileSync('ip', ['link', 'show', bridge], { stdio: 'ignore' });
  } catch {
    execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', '10.213.77.1/24', 'dev', bridge]);
    execFileSync('ip', ['link', 'set', bridge, 'up']);
  }
  const log = openSync(`${runDir}/dockerd.log`, 'a');
  // Its data root is kept between runs (the loaded image with it); the exec root is per boot.
  // Its own (empty) configuration file: the machine's /etc/docker/daemon.json may name userns-remap too (make provision
  // writes it on a Docker without state), and dockerd refuses a directive given both as a flag and in the file.
  writeFileSync(`${runDir}/daemon.json`, '{}\n');
  engine = spawn(
    'dockerd',
    [
      '--config-file',
      `${runDir}/daemon.json`,
      '--userns-remap=default',
      '-H',
      `unix://${socket}`,
      '--data-root',
      '/var/lib/kortix-userns-test-docker',
      '--exec-root',
      `${runDir}/exec`,
      '--pidfile',
      `${runDir}/docker.pid`,
      `--bridge=${bridge}`,
      '--iptables=false',
      '--ip-masq=false',
    ],
    { detached: true, stdio: ['ignore', log, log] },
  );
  docker = new Docker({ socketPath: socket });
  await waitFor(() => docker.ping().then(() => true, () => false), 60_000, `the remapped dockerd on ${socket} (log: ${runDir}/dockerd.log)`);
  const wanted = (await sharedDocker.getImage(services.sandboxImage).inspect()).Id;
  const have = await docker
    .getImage(services.sandboxImage)
    .inspect()
    .then((i) => i.Id, () => undefined);
  if (have !== wanted) execSync(`docker save ${services.sandboxImage} | DOCKER_HOST=unix://${socket} docker load -q`, { stdio: 'ignore' });
  host = new DockerSandboxHost({
    docker,
    hostId: 'userns-test',
    pool: `uns${randomUUID().slice(0, 6)}`,
    image: services.sandboxImage,
    limits: { memoryMb: 128, cpus: 0.5, pidsLimit: 64, workspaceMb: 16, tmpMb: 16 },
    seccompProfile: readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8'),
    outputLimitBytes: 16 * 1024,
    // One claimed container is all the test needs: none kept idle on the remapped engine.
    warmPool: { minIdle: 0 },
  });
  await host.start();
  ({ containerId } = await host.claim({ tenantId: 'tenant-userns', sessionId: `ses_${randomUUID()}` }));
}, 180_000);

afterAll(async () => {
  await host?.stop({ destroy: true });
  if (engine?.pid) {
    const exited = new Promise((r) => engine?.once('exit', r));
    process.kill(engine.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  }
  if (canStartEngine) execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
}, 60_000);

describe.skipIf(!canStartEngine)('sandboxes under userns-remap', () => {
  it('run uid 1000 as a subordinate uid of the host, in a user namespace that maps no host id below it', async () => {
    const root = remappedRoot(await docker.info());
    expect(root?.uid).toBeGreaterThanOrEqual(65536);
    expect((await run('id -u; cat /proc/self/uid_map')).stdout.trim().split('\n')[0]).toBe(String(SANDBOX_UID));
    const pid = (await docker.getContainer(containerId).inspect()).State.Pid;
    const { uidMap, hostUid } = hostView(pid);
    // Inside 0 is outside <remapped root>, for 65536 ids: host uid 1000 (or 0) is nobody's in there.
    expect(uidMap).toEqual([[0, root?.uid, 65536]]);
    expect(hostUid).toBe((root?.uid ?? 0) + SANDBOX_UID);
    expect(hostUid).not.toBe(SANDBOX_UID);
  });

  it('work as usual: the workspace belongs to the sandbox user, the file tools and timeouts work', async () => {
    const r = await run('touch /workspace/mine && stat -c %u:%g /workspace /workspace/mine && id -un');
    expect(r).toMatchObject({ exitCode: 0, stdout: '1000:1000\n1000:1000\nsandbox\n' });
    expect(await host.writeFile(containerId, 'docs/a.txt', 'remapped\n')).toEqual({ bytes: 9 });
    expect((await host.readFile(containerId, 'docs/a.txt')).content).toBe('remapped\n');
    expect(await host.exec(containerId, { key: `userns-${n++}`, command: 'sleep 30', timeoutSeconds: 1 })).toMatchObject({ timedOut: true });
  });
});

/**
 * The per-session sandbox on the real Docker engine: the hardened container
 * spec as Docker reports it and as a process inside sees it, idempotent
 * commands, timeouts that kill the whole tree, capped output, workspace file
 * tools that refuse paths leading out, and a release that leaves nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LABELS } from '../../sandbox/container-spec.js';
import { DockerSandboxHost, SandboxToolError } from '../../sandbox/docker-host.js';
import { docker } from '../support/stack.js';

const pool = `sbx${randomUUID().slice(0, 6)}`;
const host = new DockerSandboxHost({
  docker,
  hostId: 'sandbox-test',
  pool,
  image: inject('services').sandboxImage,
  limits: { memoryMb: 128, cpus: 0.5, pidsLimit: 64, workspaceMb: 16, tmpMb: 16 },
  outputLimitBytes: 4096,
});
const session = { tenantId: 'tenant-sbx', sessionId: `ses_${randomUUID()}` };
let containerId: string;
let n = 0;
const run = (command: string, timeoutSeconds = 20) => host.exec(containerId, { key: `k${n++}`, command, timeoutSeconds });

beforeAll(async () => {
  containerId = (await host.claim(session)).containerId;
});
afterAll(async () => {
  await host.release(session.sessionId);
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${pool}`] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
});

describe('claim', () => {
  it('is idempotent: a retried claim finds the same container', async () => {
    const again = await host.claim(session);
    expect(again).toMatchObject({ containerId, created: false });
  });

  it('creates the container as the one spec says', async () => {
    const info = await docker.getContainer(containerId).inspect();
    const hc = info.HostConfig;
    expect(info.Config.User).toBe('1000:1000');
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.SecurityOpt).toContain('no-new-privileges:true');
    expect(hc.ReadonlyRootfs).toBe(true);
    expect(hc.Privileged).toBe(false);
    expect(hc.NetworkMode).toBe('none');
    expect(hc.Memory).toBe(128 * 1024 * 1024);
    expect(hc.PidsLimit).toBe(64);
    expect(hc.Binds ?? []).toEqual([]);
    expect(info.Mounts.map((m) => m.Destination)).toEqual(['/workspace']);
    expect(info.Config.Labels).toMatchObject({ [LABELS.session]: session.sessionId, [LABELS.tenant]: 'tenant-sbx', [LABELS.host]: 'sandbox-test' });
  });
});

describe('inside the sandbox', () => {
  it('runs as uid 1000 with no capabilities, no new privileges and seccomp on', async () => {
    const r = await run('id -u; grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status');
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('1000');
    const status = Object.fromEntries(lines.slice(1).map((l) => l.split(/:\s+/) as [string, string]));
    expect(status).toMatchObject({ CapEff: '0000000000000000', CapPrm: '0000000000000000', CapBnd: '0000000000000000', CapAmb: '0000000000000000', NoNewPrivs: '1', Seccomp: '2' });
  });

  it('cannot write the root filesystem; can write the workspace', async () => {
    expect((await run('touch /etc/evil')).exitCode).not.toBe(0);
    expect((await run('echo ok > /workspace/f && cat /workspace/f')).stdout).toBe('ok\n');
  });

  it('has no network, no Docker socket and no host paths', async () => {
    const net = await run('python3 -c "import socket; socket.create_connection((\'1.1.1.1\', 53), 2)"');
    expect(net.exitCode).not.toBe(0);
    expect(net.stderr).toMatch(/Network is unreachable|OSError/);
    expect((await run('test -e /var/run/docker.sock || test -e /run/docker.sock')).exitCode).toBe(1);
    expect((await run('ls /sys/class/net')).stdout.trim()).toBe('lo');
  });

  it('runs a command once per idempotency key', async () => {
    const first = await host.exec(containerId, { key: 'same-key', command: 'echo x >> /workspace/once && wc -l < /workspace/once', timeoutSeconds: 10 });
    const retry = await host.exec(containerId, { key: 'same-key', command: 'echo x >> /workspace/once && wc -l < /workspace/once', timeoutSeconds: 10 });
    expect(first.stdout).toBe('1\n');
    expect(retry).toEqual(first);
    expect((await run('wc -l < /workspace/once')).stdout).toBe('1\n');
  });

  it('kills the whole process tree at the timeout, including setsid and nohup children', async () => {
    const r = await run('echo started; (setsid sleep 300 &); nohup sleep 301 >/dev/null 2>&1 & sleep 302', 2);
    expect(r).toMatchObject({ timedOut: true, exitCode: null, stdout: 'started\n' });
    const left = await run('for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done');
    expect(left.stdout).not.toMatch(/sleep 30[012]/);
  });

  it('caps output and says so', async () => {
    const r = await run('head -c 100000 /dev/zero | tr "\\0" a; echo done >&2');
    expect(r.truncated).toBe(true);
    expect(r.stdout).toHaveLength(4096);
    expect(r.stderr).toBe('done\n');
    expect(r.exitCode).toBe(0);
  });

  it('reports the exit code of a failing command', async () => {
    expect(await run('echo oops >&2; exit 7')).toMatchObject({ exitCode: 7, stderr: 'oops\n', timedOut: false });
  });
});

describe('workspace files', () => {
  it('writes, reads and lists through the archive API, owned by the sandbox user', async () => {
    expect(await host.writeFile(containerId, 'docs/notes.txt', 'héllo\n')).toEqual({ bytes: 7 });
    expect(await host.readFile(containerId, 'docs/notes.txt')).toEqual({ content: 'héllo\n', bytes: 7, truncated: false });
    expect((await run('stat -c %u:%g /workspace/docs/notes.txt')).stdout).toBe('1000:1000\n');
    const listing = await host.listFiles(containerId, '.');
    expect(listing.entries).toEqual(expect.arrayContaining([{ type: 'dir', size: expect.any(Number), path: 'docs' }, { type: 'file', size: 7, path: 'docs/notes.txt' }]));
  });

  it('refuses symlinks that lead out of the workspace', async () => {
    await run('ln -s /etc /workspace/etc-link && ln -s /etc/passwd /workspace/pw');
    await expect(host.readFile(containerId, 'pw')).rejects.toThrow(SandboxToolError);
    await expect(host.readFile(containerId, 'etc-link/passwd')).rejects.toThrow(/outside the workspace/);
    await expect(host.writeFile(containerId, 'etc-link/evil', 'x')).rejects.toThrow(/outside the workspace/);
    await expect(host.listFiles(containerId, 'etc-link')).rejects.toThrow(/outside the workspace/);
  });

  it('reports missing files and directories as tool errors', async () => {
    await expect(host.readFile(containerId, 'nope.txt')).rejects.toThrow(/no such file/);
    await expect(host.readFile(containerId, 'docs')).rejects.toThrow(/directory/);
    await expect(host.listFiles(containerId, 'docs/notes.txt')).rejects.toThrow(/not a directory/);
  });
});

describe('release', () => {
  it('removes the container and its workspace volume, and is idempotent', async () => {
    const other = { tenantId: 'tenant-sbx', sessionId: `ses_${randomUUID()}` };
    await host.claim(other);
    expect(await host.release(other.sessionId)).toEqual({ removed: 1 });
    expect(await host.release(other.sessionId)).toEqual({ removed: 0 });
    const volumes = await docker.listVolumes({ filters: { label: [`${LABELS.session}=${other.sessionId}`] } });
    expect(volumes.Volumes ?? []).toEqual([]);
  });
});

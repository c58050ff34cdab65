/**
 * The escape-test suite: a hostile model's attempts on real sandbox
 * containers, each of which must fail, and the neighbours each must leave
 * alone. What sandbox.test.ts already shows (capabilities, NoNewPrivs,
 * seccomp mode, read-only root, tree-killing timeouts) is not repeated here.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { createMetrics } from '../../observability/metrics.js';
import { APPARMOR_PROFILE_NAME, appArmorSupport } from '../../sandbox/apparmor.js';
import { DockerSandboxHost, EXEC_DEADLINE_GRACE_MS } from '../../sandbox/docker-host.js';
import { execOnce } from '../../sandbox/one-shot-exec.js';
import { startSession, toolResults, waitForStatus } from '../support/sessions.js';
import { docker, startStack, type Stack } from '../support/stack.js';

const services = inject('services');
const seccompProfile = readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8');
const metrics = createMetrics({ service: 'escape', defaultMetrics: false });
const host = new DockerSandboxHost({
  docker,
  hostId: 'escape-test',
  pool: `esc${randomUUID().slice(0, 6)}`,
  image: services.sandboxImage,
  limits: { memoryMb: 128, cpus: 1, pidsLimit: 64, workspaceMb: 16, tmpMb: 8 },
  seccompProfile,
  outputLimitBytes: 16 * 1024,
  warmPool: { minIdle: 2, maxTotal: 6 },
  metrics,
});
const A = { tenantId: 'tenant-a', sessionId: `ses_${randomUUID()}` };
const B = { tenantId: 'tenant-b', sessionId: `ses_${randomUUID()}` };
let a: string;
let b: string;
let n = 0;
const run = (containerId: string, command: string, timeoutSeconds = 20) =>
  host.exec(containerId, { key: `esc-${n++}`, command, timeoutSeconds, env: { KORTIX_SESSION_ID: containerId === a ? A.sessionId : B.sessionId } });

/** A listener on every address of this machine, as the API or Postgres would be. */
let hostServer: Server;
let hostPort: number;
let neighbour: string | undefined;

beforeAll(async () => {
  await host.start();
  a = (await host.claim(A)).containerId;
  b = (await host.claim(B)).containerId;
  hostServer = createServer((s) => s.end('host service\n'));
  await new Promise<void>((r) => hostServer.listen(0, '0.0.0.0', () => r()));
  hostPort = (hostServer.address() as { port: number }).port;
});
afterAll(async () => {
  await host.stop({ destroy: true });
  await new Promise((r) => hostServer.close(r));
  if (neighbour) await docker.getContainer(neighbour).remove({ force: true }).catch(() => {});
});

/** Runs syscalls from Python and prints `name errno-name` for each (OK when it succeeded). */
const SYSCALL_PROBE = String.raw`python3 - <<'PY'
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def probe(name, call):
    ctypes.set_errno(0)
    r = call()
    print(name, "OK" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
def sock(name, *args):
    try:
        socket.socket(*args).close(); print(name, "OK")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
probe("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
probe("umount", lambda: libc.umount2(b"/workspace", 0))
probe("unshare-user", lambda: libc.unshare(0x10000000))
probe("unshare-net", lambda: libc.unshare(0x40000000))
probe("setns", lambda: libc.setns(os.open("/proc/self/ns/net", os.O_RDONLY), 0))
probe("ptrace-traceme", lambda: libc.ptrace(0, 0, 0, 0))
probe("ptrace-attach-init", lambda: libc.ptrace(16, 1, 0, 0))
probe("process_vm_readv", lambda: libc.syscall(310, 1, 0, 0, 0, 0, 0))
probe("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0, 0))
probe("add_key", lambda: libc.syscall(248, b"user", b"k", b"v", 1, -2))
probe("bpf", lambda: libc.syscall(321, 0, 0, 0))
probe("perf_event_open", lambda: libc.syscall(298, 0, 0, -1, -1, 0))
probe("userfaultfd", lambda: libc.syscall(323, 0))
probe("io_uring_setup", lambda: libc.syscall(425, 1, 0))
probe("chroot", lambda: libc.chroot(b"/tmp"))
probe("setuid-root", lambda: libc.setuid(0))
sock("raw-icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock("packet", 17, socket.SOCK_RAW, 0)
sock("vsock", 40, socket.SOCK_STREAM, 0)
sock("unix", socket.AF_UNIX, socket.SOCK_STREAM, 0)
PY`;

function probes(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

describe('privileges', () => {
  it('runs as uid 1000; su and sudo cannot get root; no setuid binary exists', async () => {
    const r = await run(a, 'id -u; su -c id root </dev/null >/dev/null 2>&1; echo "su=$?"; sudo id >/dev/null 2>&1; echo "sudo=$?"; find / -xdev -perm /6000 -type f 2>/dev/null | wc -l');
    const [uid, su, sudo, setuid] = r.stdout.trim().split('\n');
    expect(uid).toBe('1000');
    expect(su).not.toBe('su=0');
    expect(sudo).toBe('sudo=127');
    expect(setuid).toBe('0');
    const image = await docker.getImage(services.sandboxImage).inspect();
    expect(image.Config.User).toBe('1000:1000');
  });

  it('refuses mount, unshare, setns, ptrace, keyctl, bpf, io_uring, chroot and raw or packet sockets', async () => {
    const r = await run(a, SYSCALL_PROBE);
    expect(r.exitCode).toBe(0);
    const got = probes(r.stdout);
    for (const name of [
      'mount',
      'umount',
      'unshare-user',
      'unshare-net',
      'setns',
      'ptrace-traceme',
      'ptrace-attach-init',
      'process_vm_readv',
      'keyctl',
      'add_key',
      'bpf',
      'perf_event_open',
      'userfaultfd',
      'io_uring_setup',
      'chroot',
      'setuid-root',
      'raw-icmp',
      'packet',
      'vsock',
    ]) {
      expect([name, got[name]]).toEqual([name, 'EPERM']);
    }
    // Ordinary sockets still work (tools talk to themselves over loopback).
    expect(got.unix).toBe('OK');
  });

  it("is tighter than Docker's default profile: ptrace, which that profile allows here, is refused", async () => {
    const traceme = 'import ctypes; print(ctypes.CDLL(None).ptrace(0, 0, 0, 0))';
    const plain = await docker.createContainer({
      Image: services.sandboxImage,
      User: '1000:1000',
      Cmd: ['python3', '-c', traceme],
      HostConfig: { CapDrop: ['ALL'], NetworkMode: 'none', SecurityOpt: ['no-new-privileges:true'] },
    });
    try {
      await plain.start();
      await plain.wait();
      const logs = (await plain.logs({ stdout: true })).toString('utf8');
      expect(logs).toContain('0');
    } finally {
      await plain.remove({ force: true });
    }
    expect((await run(a, `python3 -c '${traceme}'`)).stdout).toBe('-1\n');
  });

  it('cannot see or write the kernel and host knobs', async () => {
    const r = await run(a, 'echo 1 > /proc/sys/kernel/sysrq 2>/dev/null; echo "sysctl=$?"; cat /proc/kcore >/dev/null 2>&1; echo "kcore=$?"; dmesg >/dev/null 2>&1; echo "dmesg=$?"; ls /proc | grep -c "^[0-9]"');
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(['sysctl=1', 'kcore=1', 'dmesg=1']);
    // Its own processes only: init, the exec channel, this command.
    expect(Number(lines[3])).toBeLessThan(15);
  });
});

describe('filesystems', () => {
  it('fills the workspace, /tmp and /dev/shm at their caps, and nowhere else is writable', async () => {
    const r = await run(
      a,
      [
        'for d in /workspace /tmp /dev/shm; do head -c 64M /dev/zero > $d/fill 2>/dev/null; echo "$d $? $(stat -c %s $d/fill)"; rm -f $d/fill; done',
        'for d in / /etc /usr /var /home /root /opt; do touch $d/x 2>/dev/null; echo "$d $?"; done',
      ].join('; '),
    );
    const lines = r.stdout.trim().split('\n');
    const caps: Record<string, number> = { '/workspace': 16, '/tmp': 8, '/dev/shm': 8 };
    for (const line of lines.slice(0, 3)) {
      const [dir = '', rc, size] = line.split(' ');
      expect(rc, dir).toBe('1');
      expect(Number(size), dir).toBeLessThanOrEqual((caps[dir] ?? 0) * 1024 * 1024);
      expect(Number(size), dir).toBeGreaterThan(((caps[dir] ?? 0) - 1) * 1024 * 1024);
    }
    for (const line of lines.slice(3)) expect(line).toMatch(/ 1$/);
  });

  it('has no Docker socket and no host paths mounted', async () => {
    const r = await run(a, 'find / -xdev -name "docker.sock" 2>/dev/null | wc -l; test -e /run/docker.sock || test -e /var/run/docker.sock; echo "sock=$?"; cat /proc/self/mountinfo');
    const [count, sock, ...mounts] = r.stdout.trim().split('\n');
    expect(count).toBe('0');
    expect(sock).toBe('sock=1');
    // Field 4 is the path inside its filesystem: only Docker's own per-container files come from the host's disk.
    const fromHostDisk = mounts
      .map((m) => m.split(' '))
      .filter((f) => !['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'overlay', 'shm'].includes(f[f.indexOf('-') + 1] ?? ''))
      // Under userns-remap a container cannot make device nodes: the engine binds the six standard ones from the
      // host's devtmpfs, each onto its own name (`/null -> /dev/null`), and masks /proc and /sys paths with /null
      // (`/null -> /proc/keys`). Any other devtmpfs path still fails below.
      .filter((f) => {
        if (f[f.indexOf('-') + 1] !== 'devtmpfs') return true;
        const standardDevice = /^\/(null|zero|full|random|urandom|tty)$/.test(f[3] ?? '') && f[4] === `/dev${f[3]}`;
        const masked = f[3] === '/null' && /^\/(proc|sys)\//.test(f[4] ?? '');
        return !(standardDevice || masked);
      })
      .map((f) => `${f[3]} -> ${f[4]}`);
    // (Under userns-remap the engine's root gains a `<uid>.<gid>` directory.)
    for (const m of fromHostDisk) expect(m).toMatch(/^\/var\/lib\/docker\/(\d+\.\d+\/)?containers\/[0-9a-f]{64}\/(resolv\.conf|hostname|hosts) -> \/etc\/(resolv\.conf|hostname|hosts)$/);
  });
});

describe('resource limits', () => {
  it('stops a fork bomb at the pids limit, kills it at the timeout, and a sibling answers throughout', async () => {
    const bomb = host.exec(a, { key: `bomb-${n++}`, command: 'b() { b | b & }; b; sleep 60', timeoutSeconds: 6 });
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await run(b, 'echo sibling alive')).stdout).toBe('sibling alive\n');
    const result = await bomb;
    expect(result.timedOut).toBe(true);
    const after = await run(a, 'cat /sys/fs/cgroup/pids/pids.max; grep -o "max [0-9]*" /sys/fs/cgroup/pids/pids.events; ls /proc | grep -c "^[0-9]"');
    const [max, events, procs] = after.stdout.trim().split('\n');
    expect(max).toBe('64');
    expect(Number(events?.split(' ')[1])).toBeGreaterThan(0);
    expect(Number(procs)).toBeLessThan(15);
  });

  it('OOM-kills a memory hog, says so, counts it, and the sandbox goes on', async () => {
    const hog = await run(a, 'python3 -c "x = []\nwhile True: x.append(bytearray(10 * 2**20))"');
    expect(hog).toMatchObject({ exitCode: 137, oomKilled: true, timedOut: false });
    expect((await run(a, 'echo still here')).stdout).toBe('still here\n');
    expect(await metrics.registry.getSingleMetricAsString('sandbox_oom_kills_total')).toMatch(/sandbox_oom_kills_total\{[^}]*\} [1-9]/);
  });

  it('keeps a CPU spin to its quota (one core of two): a sibling still runs', async () => {
    const spin = host.exec(a, { key: `spin-${n++}`, command: 'for i in 1 2 3 4 5 6 7 8; do (while :; do :; done) & done; sleep 60', timeoutSeconds: 6 });
    await new Promise((r) => setTimeout(r, 1_000));
    // The kernel's quota, and what the spinning sandbox consumed over 2 s of wall time, in cores
    // (cgroup accounting: other load on the machine can only make it less).
    const usage = run(
      a,
      'c=/sys/fs/cgroup/cpu; echo $(( $(cat $c/cpu.cfs_quota_us) * 100 / $(cat $c/cpu.cfs_period_us) )); f=/sys/fs/cgroup/cpuacct/cpuacct.usage; u0=$(cat $f); t0=$EPOCHREALTIME; sleep 2; u1=$(cat $f); t1=$EPOCHREALTIME; python3 -c "print(round(($u1-$u0)/1e9/($t1-$t0), 2))"',
    );
    const sibling = await run(b, 'python3 -c "print(sum(i * i for i in range(3_000_000)) > 0)"');
    const [quotaPercent, cores] = (await usage).stdout.trim().split('\n').map(Number);
    expect((await spin).timedOut).toBe(true);
    expect(sibling.stdout).toBe('True\n');
    expect(quotaPercent).toBe(100);
    // Eight spinning processes on two cores would take both without the quota.
    expect(cores).toBeLessThanOrEqual(1.05);
  });
});

describe('network', () => {
  it('has none by default: not the host, not another container, not a host service port, no DNS', async () => {
    const bridge = await docker.getNetwork('bridge').inspect();
    const gateway = bridge.IPAM?.Config?.[0]?.Gateway ?? '172.17.0.1';
    const other = await docker.createContainer({
      Image: services.sandboxImage,
      Cmd: ['python3', '-m', 'http.server', '8080'],
      HostConfig: { NetworkMode: 'bridge', CapDrop: ['ALL'] },
    });
    neighbour = other.id;
    await other.start();
    const otherIp = (await other.inspect()).NetworkSettings.Networks.bridge?.IPAddress;
    expect(otherIp).toBeTruthy();
    const r = await run(
      a,
      String.raw`python3 - <<'PY'
import socket
for host, port in [("${gateway}", ${hostPort}), ("127.0.0.1", ${hostPort}), ("${otherIp}", 8080), ("1.1.1.1", 443)]:
    try:
        socket.create_connection((host, port), 2).close(); print(host, "CONNECTED")
    except OSError as e:
        print(host, e.errno)
try:
    socket.getaddrinfo("deb.debian.org", 80); print("dns RESOLVED")
except OSError as e:
    print("dns", "failed")
print("interfaces", " ".join(sorted(n for _, n in socket.if_nameindex())))
PY`,
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      `${gateway} 101`, // ENETUNREACH: no route anywhere
      `127.0.0.1 111`, // ECONNREFUSED: its own loopback, not the host's
      `${otherIp} 101`,
      '1.1.1.1 101',
      'dns failed',
      'interfaces lo',
    ]);
  });
});

describe('isolation between sessions', () => {
  it("a second session sees none of the first one's files, processes or environment", async () => {
    await run(a, 'echo secret-a > /workspace/secret; echo secret-a > /tmp/secret; echo secret-a > /dev/shm/secret; (SECRET_A=1 exec -a secret-holder sleep 300 &)');
    const r = await run(
      b,
      'ls -A /workspace /tmp /dev/shm | grep -c secret; grep -l secret-a -r /workspace /tmp /dev/shm 2>/dev/null | wc -l; for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -c "^secret-hold[e]r"; cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n" | grep -c -e SECRET_A -e "' + A.sessionId + '"; hostname',
    );
    const [names, contents, procs, env, hostname] = r.stdout.trim().split('\n');
    expect([names, contents, procs, env]).toEqual(['0', '0', '0', '0']);
    // The same probes find them in the first sandbox: they would have found them in the second.
    const own = await run(a, 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -c "^secret-hold[e]r"; cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n" | grep -c SECRET_A');
    expect(own.stdout).toBe('1\n1\n');
    const hostnameA = (await run(a, 'hostname; echo $KORTIX_SESSION_ID')).stdout.trim().split('\n');
    expect(hostname).not.toBe(hostnameA[0]);
    expect(hostnameA[1]).toBe(A.sessionId);
  });
});

/** Replaces the newest capture file of exec.sh (the running command's own) with a link to /dev/zero. */
const CAPTURE_TO_DEV_ZERO = 'K=$(ls -t /tmp/.kortix-exec/*.lock|head -1); ln -sf /dev/zero ${K%.lock}.out; echo replaced >&2';

describe('the host and the worker', () => {
  it('reads a capture file replaced by a link to /dev/zero as what was captured, bounded, on the first run and on a retry', async () => {
    const started = Date.now();
    const key = `capture-${n++}`;
    const first = await host.exec(a, { key, command: `echo before; ${CAPTURE_TO_DEV_ZERO}`, timeoutSeconds: 10 });
    expect(first).toMatchObject({ exitCode: 0, stdout: 'before\n', stderr: 'replaced\n', truncated: false });
    // The retried activity (same key) reads the files by name: a link is not followed into /dev/zero.
    const retry = await host.exec(a, { key, command: 'true', timeoutSeconds: 10 });
    expect(retry.stdout.length).toBeLessThanOrEqual(16 * 1024);
    expect(retry.exitCode).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    // The exec channel survived or was replaced: the sandbox still answers.
    expect((await run(a, 'echo ok')).stdout).toBe('ok\n');
  }, 60_000);

  it('stops reading a one-shot exec at its cap: a flood of output ends the stream, not the worker', async () => {
    const started = Date.now();
    const r = await execOnce(docker, a, ['timeout', '20', 'yes'], { maxBytes: 1000 });
    expect(r).toMatchObject({ overflow: true });
    expect(r.stdout.length).toBe(1000);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('ends the call at once when the activity is cancelled, and the sandbox serves the next one', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const call = host.exec(a, { key: `cancel-${n++}`, command: 'sleep 20', timeoutSeconds: 30 }, { signal: abort.signal });
    setTimeout(() => abort.abort(new Error('cancelled by the test')), 500);
    await expect(call).rejects.toThrow('cancelled by the test');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await run(a, 'echo next')).stdout).toBe('next\n');
  });

  it('gives up at its deadline on a sandbox that never answers (its runner stopped), with a tool error', async () => {
    const impatient = new DockerSandboxHost({ docker, hostId: 'escape-test', pool: 'unused', image: services.sandboxImage, limits: host.limits, outputLimitBytes: 1024, execDeadlineGraceMs: 2_000 });
    const started = Date.now();
    // The command stops exec.sh, its parent: no answer will ever come, on the channel or a one-shot exec.
    const call = impatient.exec(a, { key: `stuck-${n++}`, command: 'kill -STOP $PPID', timeoutSeconds: 1 });
    await expect(call).rejects.toThrow(/no complete answer within 3 s/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await run(a, 'echo next')).stdout).toBe('next\n');
    await impatient.stop();
  });

  it('logs nothing on the host: no log driver, and PID 1 writes into /dev/null', async () => {
    const info = await docker.getContainer(a).inspect();
    expect(info.HostConfig.LogConfig?.Type).toBe('none');
    const logSize = () => (info.LogPath ? statSync(info.LogPath, { throwIfNoEntry: false })?.size ?? 0 : 0);
    const before = logSize();
    const r = await run(a, 'readlink /proc/1/fd/1 /proc/1/fd/2; (yes AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA | head -c 20000000 > /proc/1/fd/1) 2>&1; echo "wrote=$?"');
    expect(r.stdout).toBe('/dev/null\n/dev/null\nwrote=0\n');
    expect(logSize()).toBe(before);
    expect(before).toBe(0);
  });

  it('keeps PID 1 (and so the sandbox) alive through every signal the sandbox user can send it', async () => {
    // USR1 is the host's reap (SANDBOX_INIT): sent from inside, it kills the sender's own processes, as `kill -9 -1` would.
    expect((await run(a, 'kill -s USR1 1; sleep 3; echo survived')).stdout).not.toContain('survived');
    const r = await run(a, 'for s in TERM INT HUP QUIT USR2 PIPE ALRM KILL STOP; do kill -s $s 1; echo "$s=$?"; done; sleep 1; kill -0 1 && echo alive');
    expect(r.stdout).toContain('TERM=0');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('alive');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await docker.getContainer(a).inspect()).State).toMatchObject({ Running: true, Status: 'running' });
    expect((await run(a, 'echo still here')).stdout).toBe('still here\n');
  });

  it('has a health check the engine runs, and it passes', async () => {
    const image = await docker.getImage(services.sandboxImage).inspect();
    const test = image.Config.Healthcheck?.Test ?? [];
    expect(test[0]).toBe('CMD');
    const info = await docker.getContainer(a).inspect();
    expect(['starting', 'healthy']).toContain(info.State.Health?.Status);
    const check = await run(a, `${test.slice(1).map((w) => `'${w}'`).join(' ')}; echo "check=$?"`);
    expect(check.stdout.trim()).toBe('check=0');
  });

  it('runs under the AppArmor profile where the host has AppArmor', async (ctx) => {
    const support = await appArmorSupport(docker);
    if (!support.ok) {
      ctx.skip(`AppArmor does not apply here: ${support.reason}`);
      return;
    }
    const info = await docker.getContainer(a).inspect();
    expect(info.AppArmorProfile).toBe(APPARMOR_PROFILE_NAME);
    expect((await run(a, 'cat /proc/self/attr/current')).stdout.trim()).toBe(`${APPARMOR_PROFILE_NAME} (enforce)`);
  });
});

describe('file tools and the policy', () => {
  // A path rule (say `.github/**`) is judged on the path as written: the tools must touch no other file.
  it('follow no symlink and write through no hard link, so a path judged is the path touched', async () => {
    await run(b, 'mkdir -p .github && echo orig > .github/ci.yml && ln -s .github g && ln -s .github/ci.yml y.yml && ln .github/ci.yml h.yml');
    await expect(host.writeFile(b, 'g/x.yml', 'pwned')).rejects.toThrow(/g is a symbolic link/);
    await expect(host.readFile(b, 'g/ci.yml')).rejects.toThrow(/g is a symbolic link/);
    await expect(host.listFiles(b, 'g')).rejects.toThrow(/g is a symbolic link/);
    await expect(host.readFile(b, 'y.yml')).rejects.toThrow(/y.yml is a symbolic link/);
    await expect(host.readFile(b, 'h.yml')).rejects.toThrow(/hard links/);
    // Writing a link's name replaces the link, never its target.
    expect(await host.writeFile(b, 'y.yml', 'new y')).toEqual({ bytes: 5 });
    expect(await host.writeFile(b, 'h.yml', 'new h')).toEqual({ bytes: 5 });
    const r = await run(b, 'cat .github/ci.yml; ls .github; stat -c %F y.yml h.yml; cat y.yml h.yml');
    expect(r.stdout).toBe('orig\nci.yml\nregular file\nregular file\nnew ynew h');
  });

  it('cannot be raced: a directory swapped for a symlink to .github while writing never lets a write land there', async () => {
    await run(b, 'mkdir -p .github; (end=$((SECONDS + 6)); while [ $SECONDS -lt $end ]; do rm -rf r; mkdir r; rm -rf r; ln -sfn .github r; done) >/dev/null 2>&1 &');
    const outcomes = { written: 0, refused: 0 };
    for (let i = 0; i < 25; i++) {
      try {
        await host.writeFile(b, 'r/race.yml', `attempt ${i}`);
        outcomes.written++;
      } catch {
        outcomes.refused++;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await run(b, 'test -e .github/race.yml; echo "in-github=$?"')).stdout).toBe('in-github=1\n');
    // Both sides of the race happened: some writes found the directory, some the link.
    expect(outcomes.refused).toBeGreaterThan(0);
  }, 60_000);
});

describe('hostile tool calls in a session', () => {
  let stack: Stack;
  let mock: MockLlmServer;
  beforeAll(async () => {
    mock = await startMockLlm({
      scenarios: [
        {
          name: 'memory-hog',
          turns: [
            // tail keeps the last lines of /dev/zero, which has none: it grows until the kernel kills it
            // (no interpreter: the standard policy asks for approval of inline code).
            { tool_calls: [{ name: 'shell', arguments: { command: 'tail /dev/zero' } }] },
            { tool_calls: [{ name: 'shell', arguments: { command: 'echo the sandbox is still here' } }] },
            { content: 'Done: {{tool.stdout}}' },
          ],
        },
        {
          name: 'capture-to-dev-zero',
          turns: [
            { tool_calls: [{ name: 'shell', arguments: { command: CAPTURE_TO_DEV_ZERO, timeout_seconds: 10 } }] },
            { tool_calls: [{ name: 'shell', arguments: { command: 'echo the worker is still here' } }] },
            { content: 'Done: {{tool.stdout}}' },
          ],
        },
      ],
    });
    stack = await startStack(services, { env: { MOCK_LLM_URL: mock.url } });
  });
  afterAll(async () => {
    await stack?.close();
    await mock?.close();
  });

  it('a memory hog is a tool error the model sees, and the session goes on', async () => {
    const session = await startSession(stack, { message: 'use a lot of memory', metadata: { scenario: 'memory-hog' } });
    const done = await waitForStatus(stack, session.id, undefined, 120_000);
    expect(done).toMatchObject({ status: 'completed', finalAnswer: 'Done: the sandbox is still here\n' });
    const [hog, after] = await toolResults(stack, session.id);
    expect(hog).toMatchObject({ ok: false, exit_code: 137, oom_killed: true });
    expect(String(hog?.error)).toMatch(/out of memory \(this sandbox has 256 MB\)/);
    expect(after).toMatchObject({ ok: true, stdout: 'the sandbox is still here\n' });
  });

  it('a command that links its capture file to /dev/zero gets its bounded result within its deadline, and the session goes on', async () => {
    const started = Date.now();
    const session = await startSession(stack, { message: 'stream forever', metadata: { scenario: 'capture-to-dev-zero' } });
    // The tool's deadline is its timeout (10 s) plus EXEC_DEADLINE_GRACE_MS (45 s).
    const done = await waitForStatus(stack, session.id, undefined, 10_000 + EXEC_DEADLINE_GRACE_MS);
    expect(done).toMatchObject({ status: 'completed', finalAnswer: 'Done: the worker is still here\n' });
    const [linked, after] = await toolResults(stack, session.id);
    expect(linked).toMatchObject({ ok: true, exit_code: 0, stdout: '', stderr: 'replaced\n', truncated: false });
    expect(after).toMatchObject({ ok: true, stdout: 'the worker is still here\n' });
    expect(Date.now() - started).toBeLessThan(10_000 + EXEC_DEADLINE_GRACE_MS);
  }, 120_000);
});

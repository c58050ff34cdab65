/**
 * Network for sessions whose policy names hosts: the sandbox joins an
 * internal network whose only way out is the allowlisting proxy. Named hosts
 * answer through it; anything else is refused with the reason; direct
 * connections, DNS, other sandboxes and other ports of this machine are
 * unreachable. Offline: the "internet" is servers on this machine.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, loadConfig } from '../../config/index.js';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { sandboxHostFromConfig } from '../../sandbox/from-config.js';
import { readAllEvents, startSession, waitForStatus } from '../support/sessions.js';
import { docker, stackEnv, startStack, type Stack } from '../support/stack.js';

const services = inject('services');
const ids = { pool: `egr${randomUUID().slice(0, 6)}`, hostId: `egress-${randomUUID().slice(0, 6)}` };
const proxyPort = 31_000 + Math.floor(Math.random() * 2_000);
// The "internet" is this machine: 127.0.0.1 is let through for these tests only; the other names point where an attacker would.
const names: Record<string, string> = { 'allowed.test': '127.0.0.1', 'api.wild.test': '10.0.0.1', 'metadata.test': '169.254.169.254' };
const makeHost = () =>
  new DockerSandboxHost({
    docker,
    ...ids,
    image: services.sandboxImage,
    limits: { memoryMb: 128, cpus: 1, pidsLimit: 64, workspaceMb: 16, tmpMb: 16 },
    seccompProfile: readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8'),
    outputLimitBytes: 16 * 1024,
    warmPool: { minIdle: 0, maxTotal: 6 },
    egress: {
      port: proxyPort,
      firewall: 'on',
      lookup: async (name) => {
        const address = names[name];
        if (!address) throw new Error(`no such host ${name}`);
        return address;
      },
      internalAllowed: ['127.0.0.1'],
    },
  });
let host = makeHost();

/** Servers on this machine: one the policy names, one it does not (both listen on every address). */
let allowed: Server;
let other: Server;
const portOf = (s: Server) => (s.address() as { port: number }).port;
async function serve(body: string): Promise<Server> {
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
  return server;
}

let a: string;
let b: string;
let n = 0;
const run = (containerId: string, command: string) => host.exec(containerId, { key: `egr-${n++}`, command, timeoutSeconds: 30 });

/** Fetches URLs with Python's urllib (which honours the proxy variables), one line each: status and body or reason. */
const fetchAll = (urls: string[]) => String.raw`python3 - <<'PY'
import urllib.request, urllib.error
for url in ${JSON.stringify(urls)}:
    try:
        with urllib.request.urlopen(url, timeout=5) as r: print(r.status, r.read().decode().strip())
    except urllib.error.HTTPError as e: print(e.code, e.read().decode().strip())
    except Exception as e: print("error", type(e).__name__, e)
PY`;

beforeAll(async () => {
  allowed = await serve('hello from an allowed host');
  other = await serve('a host service that is not named');
  await host.start();
  const allow = [`127.0.0.1:${portOf(allowed)}`, `allowed.test:${portOf(allowed)}`, `*.wild.test:${portOf(allowed)}`, `metadata.test:${portOf(allowed)}`];
  a = (await host.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` }, { network: allow })).containerId;
  b = (await host.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` }, { network: allow })).containerId;
});
afterAll(async () => {
  await host.stop({ destroy: true });
  await new Promise((r) => allowed.close(r));
  await new Promise((r) => other.close(r));
});

describe('a sandbox whose policy names hosts', () => {
  it('is a cold container on the internal network, labelled with its allowlist, with the proxy in its environment', async () => {
    const info = await docker.getContainer(a).inspect();
    const [network] = Object.keys(info.NetworkSettings.Networks);
    expect(network).toMatch(/^kortix-egress-/);
    expect((await docker.getNetwork(network as string).inspect()).Internal).toBe(true);
    expect(info.Config.Labels['dev.kortix.egress']).toContain(`allowed.test:${portOf(allowed)}`);
    expect(info.Config.Env).toEqual(expect.arrayContaining([expect.stringMatching(/^https_proxy=http:\/\/[\d.]+:\d+$/)]));
  });

  it('reaches the hosts its policy names, through the proxy, by address or by name', async () => {
    const r = await run(a, fetchAll([`http://127.0.0.1:${portOf(allowed)}/`, `http://allowed.test:${portOf(allowed)}/`]));
    expect(r.stdout.trim().split('\n')).toEqual(['200 hello from an allowed host', '200 hello from an allowed host']);
  });

  it('is refused, with the reason, any host or port the policy does not name', async () => {
    const r = await run(
      a,
      fetchAll([`http://127.0.0.1:${portOf(other)}/`, 'http://example.com/', 'https://example.com/', `http://api.wild.test:${portOf(allowed)}/`]),
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`403 kortix egress proxy: 127.0.0.1:${portOf(other)} is not allowed by the session's policy (network.allow)`);
    expect(lines[1]).toBe("403 kortix egress proxy: example.com:80 is not allowed by the session's policy (network.allow)");
    // https: the proxy refuses the CONNECT (urllib reports the tunnel's status).
    expect(lines[2]).toMatch(/Tunnel connection failed: 403/);
    // A wildcard entry may not lead to an internal address (DNS rebinding).
    expect(lines[3]).toMatch(/^403 .*resolves to an internal address \(10\.0\.0\.1\)/);
  });

  it('is refused a name its policy names exactly when DNS points it at an internal address', async () => {
    const r = await run(a, fetchAll([`http://metadata.test:${portOf(allowed)}/latest/meta-data/`, `http://0xA9FEA9FE:${portOf(allowed)}/`]));
    expect(r.stdout.trim().split('\n')).toEqual([
      '403 kortix egress proxy: metadata.test resolves to an internal address (169.254.169.254), which the proxy never connects a name to',
      // A numeric literal is an address, not a name: the policy names no such address.
      expect.stringMatching(/^403 kortix egress proxy: 169\.254\.169\.254:\d+ is not allowed by the session's policy/),
    ]);
  });

  it('cannot go around the proxy: no direct route, no DNS, no other port of this machine, no other sandbox', async () => {
    const bInfo = await docker.getContainer(b).inspect();
    const bIp = Object.values(bInfo.NetworkSettings.Networks)[0]?.IPAddress;
    const gateway = Object.values(bInfo.NetworkSettings.Networks)[0]?.Gateway;
    await run(b, '(exec python3 -m http.server 8000 >/dev/null 2>&1 &)');
    const r = await run(
      a,
      String.raw`python3 - <<'PY'
import socket
for host, port in [("1.1.1.1", 443), ("${gateway}", ${portOf(other)}), ("${gateway}", 22), ("${bIp}", 8000), ("${gateway}", ${proxyPort})]:
    try:
        socket.create_connection((host, port), 1).close(); print(host, port, "CONNECTED")
    except OSError as e:
        print(host, port, "refused" if isinstance(e, socket.timeout) or e.errno in (101, 111, 113) else e)
try:
    socket.getaddrinfo("allowed.test", 80); print("dns RESOLVED")
except OSError:
    print("dns failed")
PY`,
    );
    expect(r.stdout.trim().split('\n')).toEqual([
      '1.1.1.1 443 refused',
      `${gateway} ${portOf(other)} refused`,
      `${gateway} 22 refused`,
      `${bIp} 8000 refused`,
      `${gateway} ${proxyPort} CONNECTED`,
      'dns failed',
    ]);
    // The other sandbox's server runs: it is the network that keeps them apart.
    expect((await run(b, 'python3 -c "import socket; socket.create_connection((\'127.0.0.1\', 8000), 5); print(\'up\')"')).stdout).toBe('up\n');
  });

  it('keeps working after a worker restart: the proxy reads the allowlists back from the containers', async () => {
    await host.stop();
    host = makeHost();
    await host.start();
    const r = await run(a, fetchAll([`http://allowed.test:${portOf(allowed)}/`, `http://127.0.0.1:${portOf(other)}/`]));
    expect(r.stdout.trim().split('\n')).toEqual(['200 hello from an allowed host', expect.stringMatching(/^403 /)]);
  });
});

describe('a warm pool on a host with an egress proxy', () => {
  const warmIds = { pool: `egw${randomUUID().slice(0, 6)}`, hostId: `egress-warm-${randomUUID().slice(0, 6)}` };
  const warmPort = proxyPort + 3;
  const makeWarmHost = () =>
    new DockerSandboxHost({
      docker,
      ...warmIds,
      image: services.sandboxImage,
      limits: { memoryMb: 128, cpus: 1, pidsLimit: 64, workspaceMb: 16, tmpMb: 16 },
      seccompProfile: readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8'),
      outputLimitBytes: 16 * 1024,
      warmPool: { minIdle: 2, maxTotal: 6, whenEmpty: 'wait' },
      egress: { port: warmPort, firewall: 'on', lookup: async (name) => names[name] ?? Promise.reject(new Error(`no such host ${name}`)), internalAllowed: ['127.0.0.1'] },
    });
  let warm = makeWarmHost();
  const exec = (containerId: string, command: string) => warm.exec(containerId, { key: `egw-${n++}`, command, timeoutSeconds: 30 });
  const idleContainers = async () =>
    (await docker.listContainers({ filters: { label: Object.entries(warm.selector).map(([k, v]) => `${k}=${v}`) } })).filter(
      (c) => warm.names.parse(c.Names[0] ?? '').kind === 'idle',
    );
  const waitIdle = async (count: number) => {
    for (let i = 0; i < 600 && (await idleContainers()).length < count; i++) await new Promise((r) => setTimeout(r, 100));
  };
  const allow = () => [`allowed.test:${portOf(allowed)}`];
  let withHosts: string;

  beforeAll(async () => {
    await warm.start();
    await waitIdle(2);
  });
  afterAll(async () => {
    await warm.stop({ destroy: true });
  });

  it('keeps its idle containers on no network at all, the proxy in their environment for later', async () => {
    const idle = await idleContainers();
    expect(idle.length).toBeGreaterThanOrEqual(2);
    for (const c of idle) {
      const info = await docker.getContainer(c.Id).inspect();
      expect(info.HostConfig.NetworkMode).toBe('none');
      expect(Object.keys(info.NetworkSettings.Networks)).toEqual(['none']);
      expect(Object.values(info.NetworkSettings.Networks).map((e) => e.IPAddress)).toEqual(['']);
      expect(info.Config.Env).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^https_proxy=http://[\\d.]+:${warmPort}$`))]));
      expect(info.HostConfig.Dns).toEqual(['0.0.0.0']);
    }
  });

  it('gives a session naming hosts a warm container that joins the egress network at claim and reaches them only through the proxy', async () => {
    const before = Date.now();
    const claim = await warm.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` }, { network: allow() });
    expect(claim.source).toBe('warm');
    withHosts = claim.containerId;
    const info = await docker.getContainer(withHosts).inspect();
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([expect.stringMatching(/^kortix-egress-/)]);
    // The allowlist lives on the endpoint (labels are fixed at create, and nothing inside can change either).
    expect(info.Config.Labels['dev.kortix.egress']).toBeUndefined();
    const r = await exec(withHosts, fetchAll([`http://allowed.test:${portOf(allowed)}/`, 'http://example.com/', `http://127.0.0.1:${portOf(other)}/`]));
    expect(r.stdout.trim().split('\n')).toEqual([
      '200 hello from an allowed host',
      "403 kortix egress proxy: example.com:80 is not allowed by the session's policy (network.allow)",
      `403 kortix egress proxy: 127.0.0.1:${portOf(other)} is not allowed by the session's policy (network.allow)`,
    ]);
    const gateway = Object.values(info.NetworkSettings.Networks)[0]?.Gateway;
    const direct = await exec(
      withHosts,
      String.raw`python3 - <<'PY'
import socket
for host, port in [("1.1.1.1", 443), ("${gateway}", ${portOf(other)}), ("169.254.169.254", 80)]:
    try:
        socket.create_connection((host, port), 1).close(); print(host, "CONNECTED")
    except OSError:
        print(host, "refused")
try:
    socket.getaddrinfo("allowed.test", 80); print("dns RESOLVED")
except OSError:
    print("dns failed")
PY`,
    );
    expect(direct.stdout.trim().split('\n')).toEqual(['1.1.1.1 refused', `${gateway} refused`, '169.254.169.254 refused', 'dns failed']);
    // What the proxy refused is kept for the sandbox, with the reason (a browser that sees only a failed tunnel is told why).
    expect((await warm.egressRefusals(withHosts, before)).map((x) => x.reason)).toEqual([
      "example.com:80 is not allowed by the session's policy (network.allow)",
      `127.0.0.1:${portOf(other)} is not allowed by the session's policy (network.allow)`,
    ]);
  });

  it('gives a session naming no hosts a warm container that stays on no network', async () => {
    const claim = await warm.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` });
    expect(claim.source).toBe('warm');
    expect(Object.keys((await docker.getContainer(claim.containerId).inspect()).NetworkSettings.Networks)).toEqual(['none']);
    const r = await exec(claim.containerId, fetchAll([`http://allowed.test:${portOf(allowed)}/`]));
    expect(r.stdout).toMatch(/^error URLError .*(unreachable|Network)/);
  });

  it('serves a joined warm sandbox after a worker restart (the allowlist is read back from its endpoint)', async () => {
    await warm.stop();
    warm = makeWarmHost();
    await warm.start();
    const r = await exec(withHosts, fetchAll([`http://allowed.test:${portOf(allowed)}/`, 'http://example.com/']));
    expect(r.stdout.trim().split('\n')).toEqual(['200 hello from an allowed host', expect.stringMatching(/^403 /)]);
  });

  it('takes a sandbox off the network at release, before it is destroyed', async () => {
    const sessionId = `ses_${randomUUID()}`;
    const { containerId } = await warm.claim({ tenantId: 't', sessionId }, { network: allow() });
    const events: string[] = [];
    const stream = await docker.getEvents({ filters: { type: ['network', 'container'] } });
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const e = JSON.parse(line) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } };
        if (e.Type === 'network' && e.Actor.Attributes.container === containerId) events.push(`network ${e.Action} ${e.Actor.Attributes.name ?? ''}`);
        if (e.Type === 'container' && e.Actor.ID === containerId && e.Action === 'destroy') events.push('container destroy');
      }
    });
    await warm.release(sessionId);
    for (let i = 0; i < 50 && !events.includes('container destroy'); i++) await new Promise((r) => setTimeout(r, 100));
    (stream as unknown as { destroy: () => void }).destroy();
    expect(events[0]).toMatch(/^network disconnect kortix-egress-/);
    expect(events).toContain('container destroy');
    expect(events.indexOf('container destroy')).toBeGreaterThan(0);
  });
});

describe('a session whose policy names a host', () => {
  let stack: Stack | undefined;
  let mock: MockLlmServer | undefined;
  afterAll(async () => {
    await stack?.close();
    await mock?.close();
  });

  it('gets a sandbox that reaches that host and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kortix-egress-policies-'));
    mkdirSync(join(dir, 'templates'));
    writeFileSync(
      join(dir, 'templates', 'with-network.yaml'),
      [
        'name: with-network',
        'tools: [shell]',
        'network:',
        `  allow: ["127.0.0.1:${portOf(allowed)}"]`,
        'rules:',
        '  - id: shell',
        '    tool: shell',
        '    action: allow',
        'default: deny',
        '',
      ].join('\n'),
    );
    mock = await startMockLlm({
      scenarios: [
        {
          name: 'fetch',
          turns: [
            { tool_calls: [{ name: 'shell', arguments: { command: fetchAll([`http://127.0.0.1:${portOf(allowed)}/`, `http://127.0.0.1:${portOf(other)}/`]) } }] },
            { content: '{{tool.stdout}}' },
          ],
        },
      ],
    });
    stack = await startStack(services, { policiesDir: dir, env: { MOCK_LLM_URL: mock.url, SANDBOX_EGRESS_PROXY_PORT: String(proxyPort + 1) } });
    const session = await startSession(stack, { message: 'fetch it', policy: 'with-network', metadata: { scenario: 'fetch' } });
    const done = await waitForStatus(stack, session.id, undefined, 120_000);
    expect(done.status).toBe('completed');
    const [ok, refused] = (done.finalAnswer ?? '').trim().split('\n');
    expect(ok).toBe('200 hello from an allowed host');
    expect(refused).toMatch(/^403 kortix egress proxy: .* is not allowed by the session's policy/);
    const claimed = (await readAllEvents(stack, session.id)).find((e) => e.type === 'sandbox.claimed');
    // The stack keeps warm sandboxes: one joined the egress network at claim.
    expect(claimed?.data).toMatchObject({ source: 'warm', network: [`127.0.0.1:${portOf(allowed)}`] });
  });
});

describe('in production (KORTIX_ENV=prod)', () => {
  it('refuses SANDBOX_EGRESS_FIREWALL=off, naming the variable', () => {
    expect(() => loadConfig({ KORTIX_ENV: 'prod', SANDBOX_EGRESS_FIREWALL: 'off' })).toThrow(/SANDBOX_EGRESS_FIREWALL: "off" is refused with KORTIX_ENV=prod/);
  });

  it('does not start a sandbox host whose egress firewall cannot be applied, even with SANDBOX_EGRESS_FIREWALL=auto', async () => {
    // An iptables that always fails, first on PATH: the firewall cannot be applied here.
    const bin = mkdtempSync(join(tmpdir(), 'kortix-no-iptables-'));
    writeFileSync(join(bin, 'iptables'), '#!/bin/sh\necho "iptables: Permission denied (you must be root)" >&2\nexit 4\n', { mode: 0o755 });
    const prefix = `prod${randomUUID().slice(0, 6)}`;
    const config = loadConfig({
      ...stackEnv(services, prefix),
      KORTIX_ENV: 'prod',
      // Prod also requires the vote signing key (workflows/gates.ts): not what this test is about.
      VOTE_SIGNING_KEY: 'v'.repeat(32),
      PAYLOAD_CODEC_RING: '/run/secrets/kortix/payload_keys.json',
      SANDBOX_EGRESS_FIREWALL: 'auto',
      SANDBOX_POOL_MIN_IDLE: '0',
      SANDBOX_EGRESS_PROXY_PORT: String(proxyPort + 2),
    });
    const prodHost = sandboxHostFromConfig(config, { docker });
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    try {
      await expect(prodHost.start()).rejects.toThrow(/cannot install the egress firewall .*; KORTIX_ENV=prod \(SANDBOX_EGRESS_FIREWALL\) requires it/);
    } finally {
      process.env.PATH = savedPath;
      await prodHost.stop({ destroy: true });
    }
  });
});

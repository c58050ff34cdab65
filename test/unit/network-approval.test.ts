/**
 * Per-host network approval without Docker: the policy's `network.approve`
 * (load, errors at file:line, templates unchanged), how request_network is
 * decided and parsed, and the egress proxy refusing an approvable host with
 * how to ask, then letting it through once granted.
 */
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { evaluatePolicy, offeredTools } from '../../policies/evaluate.js';
import { PolicyStore } from '../../policies/load.js';
import { policySchema, type Policy } from '../../policies/schema.js';
import { parseAllowlist, type AllowEntry } from '../../sandbox/allowlist.js';
import { EgressProxy } from '../../sandbox/egress-proxy.js';
import { parseToolCall, toolDefinitions } from '../../sandbox/tools.js';

const example = () => new PolicyStore(resolve(REPO_ROOT, 'test/fixtures/network-approval')).get('network-approval') as Policy;

/** A policies dir with one template written from `lines`. */
function storeWith(name: string, lines: string[]): () => PolicyStore {
  const dir = mkdtempSync(join(tmpdir(), 'kortix-netapprove-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'templates', `${name}.yaml`), [`name: ${name}`, ...lines, ''].join('\n'));
  return () => new PolicyStore(dir);
}

const request_network = (args: Record<string, unknown>) => ({ name: 'request_network', arguments: args });

describe('network.approve in a policy', () => {
  it('loads the example: hosts to approve and the gate settings, durations in ms', () => {
    const policy = example();
    expect(policy.network).toEqual({
      allow: ['pypi.org', 'files.pythonhosted.org'],
      approve: ['api.example.com', '*.internal.example.com:8443'],
      approval: { approvers: 2, roles: ['admin', 'security'], timeout: 20 * 60_000 },
      risk: 'high',
    });
  });

  it('leaves policies without it as they were (no key added, so their hash is unchanged), templates included', () => {
    const store = new PolicyStore(resolve(REPO_ROOT, 'policies'));
    for (const name of store.names()) {
      const network = (store.get(name) as Policy).network;
      expect(Object.keys(network), name).toEqual(['allow']);
      expect(offeredTools(store.get(name) as Policy), name).not.toContain('request_network');
    }
  });

  it('refuses a bad host pattern or gate setting at its file and line', () => {
    const bad = storeWith('bad-net', ['network:', '  allow: []', '  approve:', '    - api.example.com', '    - "https://evil.example/"']);
    expect(bad).toThrow(/bad-net\.yaml:6: network\.approve\.1: a host, \*\.domain or \* \(optionally with :port\)/);
    const badGate = storeWith('bad-gate', ['network:', '  approve: [api.example.com]', '  approval:', '    approvers: 0']);
    expect(badGate).toThrow(/bad-gate\.yaml:5: network\.approval\.approvers: /);
    const unknown = storeWith('bad-key', ['network:', '  approve: [api.example.com]', '  approvers: 2']);
    expect(unknown).toThrow(/bad-key\.yaml:4: network\.approvers: unknown key/);
  });
});

describe('request_network under the policy', () => {
  const policy = example();

  it('allows a host of network.allow', () => {
    expect(evaluatePolicy(policy, request_network({ host: 'pypi.org', reason: 'pip' }))).toEqual({ action: 'allow', ruleId: 'network.allow' });
  });

  it('opens a gate with network.approval over the policy defaults for a host of network.approve', () => {
    expect(evaluatePolicy(policy, request_network({ host: 'api.example.com', reason: 'build status' }))).toEqual({
      action: 'approve',
      ruleId: 'network.approve',
      risk: 'high',
      reason: 'network access to api.example.com (ports 80 and 443)',
      approvers: 2,
      roles: ['admin', 'security'],
      excludedApprovers: [],
      timeoutMs: 20 * 60_000,
      onTimeout: 'deny',
      slackChannel: null,
    });
    const wild = evaluatePolicy(policy, request_network({ host: 'db.internal.example.com', port: 8443, reason: 'r' }));
    expect(wild).toMatchObject({ action: 'approve', reason: 'network access to db.internal.example.com:8443' });
  });

  it('denies anything else: another host, another port, the wildcard domain itself, an address', () => {
    for (const args of [
      { host: 'evil.example' },
      { host: 'api.example.com', port: 22 },
      { host: 'db.internal.example.com' },
      { host: 'internal.example.com', port: 8443 },
      { host: '169.254.169.254' },
    ]) {
      expect(evaluatePolicy(policy, request_network({ ...args, reason: 'r' })), JSON.stringify(args)).toMatchObject({ action: 'deny', ruleId: 'network' });
    }
  });

  it('is judged by the network section, not by the rules or the tools list (a permissive rule does not allow a host)', () => {
    const open = policySchema.parse({ name: 'open', tools: ['shell'], rules: [{ tool: '*', action: 'allow' }], default: 'allow' });
    expect(evaluatePolicy(open, request_network({ host: 'evil.example', reason: 'r' }))).toMatchObject({ action: 'deny' });
  });

  it('is offered to the model only when the policy has hosts to approve', () => {
    // With shell come the artifact tools (read_artifact, save_result).
    expect(offeredTools(policy)).toEqual([...policy.tools, 'request_network', ...(policy.tools.includes('shell') ? ['read_artifact', 'save_result'] : [])]);
    expect(toolDefinitions(offeredTools(policy)).map((d) => d.function.name)).toContain('request_network');
  });
});

describe('request_network arguments', () => {
  const parse = (args: unknown) => parseToolCall('request_network', JSON.stringify(args));

  it('takes a host, an optional port (or host:port) and a reason', () => {
    expect(parse({ host: 'API.Example.com.', reason: 'status' })).toEqual({ ok: true, call: { name: 'request_network', args: { host: 'api.example.com', reason: 'status' } } });
    expect(parse({ host: 'api.example.com:8443', reason: 'r' })).toMatchObject({ ok: true, call: { args: { host: 'api.example.com', port: 8443 } } });
    expect(parse({ host: 'api.example.com', port: 8443, reason: 'r' })).toMatchObject({ ok: true, call: { args: { port: 8443 } } });
  });

  it('refuses a URL, a wildcard, a bad or conflicting port, and a missing reason, saying which', () => {
    expect(parse({ host: 'https://api.example.com/x', reason: 'r' })).toMatchObject({ ok: false, error: expect.stringMatching(/no scheme, path or wildcard/) });
    expect(parse({ host: '*.example.com', reason: 'r' })).toMatchObject({ ok: false });
    expect(parse({ host: 'a.example', port: 70000, reason: 'r' })).toMatchObject({ ok: false, error: expect.stringMatching(/"port" must be an integer/) });
    expect(parse({ host: 'a.example', port: '443', reason: 'r' })).toMatchObject({ ok: false, error: expect.stringMatching(/"port"/) });
    expect(parse({ host: 'a.example:80', port: 443, reason: 'r' })).toMatchObject({ ok: false, error: expect.stringMatching(/names port 80 but "port" is 443/) });
    expect(parse({ host: 'a.example' })).toMatchObject({ ok: false, error: 'argument "reason" must be a string' });
    expect(parse({ host: 'a.example', reason: '  ' })).toMatchObject({ ok: false, error: expect.stringMatching(/"reason" is empty/) });
  });
});

describe('the egress proxy and a host to approve', () => {
  let upstream: Server;
  let upstreamPort: number;
  let proxy: EgressProxy;
  let proxyPort: number;
  let allow: AllowEntry[] = [];

  beforeAll(async () => {
    upstream = createServer((_req, res) => res.end('the team API'));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamPort = (upstream.address() as { port: number }).port;
    proxy = new EgressProxy({
      host: '127.0.0.1',
      port: 0,
      allowlistFor: async () => allow,
      approvalFor: async () => parseAllowlist([`api.example.com:${upstreamPort}`, 'api.example.com'], 'network.approve'),
      lookup: async () => '127.0.0.1',
      internalAllowed: ['127.0.0.1'],
    });
    proxyPort = await proxy.listen();
  });
  afterAll(async () => {
    await proxy.close();
    upstream.close();
  });

  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((done, fail) => {
      const req = request({ host: '127.0.0.1', port: proxyPort, path: url, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', fail);
      req.end();
    });

  it('refuses it before a grant, telling the agent how to ask; an unlisted host gets the plain refusal', async () => {
    expect(await get(`http://api.example.com:${upstreamPort}/`)).toEqual({
      status: 403,
      body: `kortix egress proxy: api.example.com:${upstreamPort} needs approval: call the request_network tool with host api.example.com and port ${upstreamPort} and the reason, then retry\n`,
    });
    expect((await get('http://api.example.com/')).body).toBe(
      'kortix egress proxy: api.example.com:80 needs approval: call the request_network tool with host api.example.com and the reason, then retry\n',
    );
    expect(await get(`http://other.example.com:${upstreamPort}/`)).toMatchObject({ status: 403, body: expect.stringMatching(/is not allowed by the session's policy/) });
  });

  it('lets it through once the sandbox holds a grant for it', async () => {
    allow = [{ host: 'api.example.com', port: upstreamPort }];
    expect(await get(`http://api.example.com:${upstreamPort}/`)).toEqual({ status: 200, body: 'the team API' });
  });
});

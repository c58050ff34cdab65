/**
 * Brokered secrets at the egress proxy, on a real Docker sandbox: the proxy
 * adds a bound secret's header (or basic-auth pair) to requests for its hosts,
 * over plain HTTP and over HTTPS (terminated with the deployment's CA, which
 * the sandbox trusts; the upstream checked against its own CA), and to no
 * other request. Values come from each provider (Vault and AWS fakes speaking
 * their protocols, a directory). The sandbox's environment, files and /proc
 * never hold a value. Offline: the "internet" is servers on this machine.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, Secret } from '../../config/index.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { EgressCa } from '../../sandbox/egress-ca.js';
import { AwsSecrets } from '../../secrets/aws.js';
import { FileSecrets } from '../../secrets/files.js';
import type { SecretProvider } from '../../secrets/provider.js';
import { VaultSecrets } from '../../secrets/vault.js';
import { FakeSecretsManager } from '../support/fake-secrets-manager.js';
import { FakeVault } from '../support/fake-vault.js';
import { docker } from '../support/stack.js';

const services = inject('services');
const ids = { pool: `sec${randomUUID().slice(0, 6)}`, hostId: `secrets-${randomUUID().slice(0, 6)}` };
const proxyPort = 33_000 + Math.floor(Math.random() * 2_000);
const names: Record<string, string> = { 'bound.test': '127.0.0.1', 'other.test': '127.0.0.1', 'basic.test': '127.0.0.1', 'impostor.test': '127.0.0.1', 'missing.test': '127.0.0.1' };

const VALUES = { files: 'ghp_files_S3cr3t_value_1', vault: 'hvs_vault_S3cr3t_value_2', aws: 'aws_sm_S3cr3t_value_3' } as const;
type Kind = keyof typeof VALUES;
const tenantOf = (kind: Kind) => `tenant-${kind}`;

/** The servers' CA, which the proxy trusts for upstreams; the impostor's certificate comes from another. */
const upstreamCa = EgressCa.ephemeral();
const impostorCa = EgressCa.ephemeral();
const vault = new FakeVault();
const aws = new FakeSecretsManager();
const secretsDir = mkdtempSync(join(tmpdir(), 'kortix-secrets-it-'));
let providers: Record<Kind, SecretProvider>;

/** What each server saw: the Authorization header of each request, by path. */
const seen = new Map<string, string | undefined>();
const echo = (req: IncomingMessage, res: ServerResponse) => {
  seen.set(req.url ?? '', req.headers.authorization);
  res.end(`saw ${req.headers.authorization === undefined ? 'no authorization' : 'an authorization'}`);
};
let http: Server;
let https: Server;
let impostor: Server;
const portOf = (s: Server) => (s.address() as { port: number }).port;

const host = new DockerSandboxHost({
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
    secretValue: async (tenantId, name) => (await providers[tenantId.replace('tenant-', '') as Kind].get(tenantId, name)).value,
    ca: (() => {
      const ca = EgressCa.ephemeral();
      return () => ca;
    })(),
    upstreamCa: [upstreamCa.certPem],
  },
});

let n = 0;
const run = (containerId: string, command: string) => host.exec(containerId, { key: `sec-${n++}`, command, timeoutSeconds: 30 });

/** Python's urllib through the proxy variables: each URL sent with the sandbox's own Authorization header; one line each. */
const fetchAll = (urls: { url: string; verify?: boolean }[]) => String.raw`python3 - <<'PY'
import ssl, urllib.request, urllib.error
for u in ${JSON.stringify(urls.map((x) => [x.url, x.verify === false ? 0 : 1]))}:
    url, verify = u
    ctx = None if verify else ssl._create_unverified_context()
    req = urllib.request.Request(url, headers={"Authorization": "Bearer sandbox-own"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r: print(r.status, r.read().decode().strip())
    except urllib.error.HTTPError as e: print(e.code, e.read().decode().strip())
    except Exception as e: print("error", type(e).__name__, e)
PY`;

const containers: Partial<Record<Kind, string>> = {};

beforeAll(async () => {
  http = createHttpServer(echo);
  https = createHttpsServer({ SNICallback: (name, cb) => cb(null, upstreamCa.contextFor(name)) }, echo);
  impostor = createHttpsServer({ SNICallback: (name, cb) => cb(null, impostorCa.contextFor(name)) }, echo);
  for (const s of [http, https, impostor]) await new Promise<void>((r) => s.listen(0, '0.0.0.0', () => r()));
  await vault.start();
  await aws.start();
  vault.addToken('kortix-token');
  aws.addAccessKey('AKIDKORTIX');
  vault.put('secret', `kortix/${tenantOf('vault')}/api-token`, { value: VALUES.vault });
  aws.put(`kortix/${tenantOf('aws')}/api-token`, VALUES.aws);
  mkdirSync(join(secretsDir, tenantOf('files')), { recursive: true });
  writeFileSync(join(secretsDir, tenantOf('files'), 'api-token'), `${VALUES.files}\n`);
  providers = {
    files: new FileSecrets(secretsDir),
    vault: new VaultSecrets({ address: vault.url, token: new Secret('kortix-token'), mount: 'secret', prefix: 'kortix', field: 'value' }),
    aws: new AwsSecrets({ region: 'us-east-1', endpoint: aws.url, prefix: 'kortix', credentials: { accessKeyId: 'AKIDKORTIX', secretAccessKey: new Secret('x') } }),
  };
  await host.start();
  const [h, s, i] = [portOf(http), portOf(https), portOf(impostor)];
  const allow = [`bound.test:${h}`, `bound.test:${s}`, `other.test:${h}`, `other.test:${s}`, `basic.test:${s}`, `impostor.test:${i}`, `missing.test:${h}`];
  for (const kind of Object.keys(VALUES) as Kind[]) {
    const secrets = {
      tenantId: tenantOf(kind),
      secrets: [
        { name: 'api-token', hosts: [`bound.test:${h}`, `bound.test:${s}`, `impostor.test:${i}`], inject: { header: 'Authorization', format: 'Bearer {value}' } },
        { name: 'api-token', hosts: [`basic.test:${s}`], inject: { basicAuth: { username: 'kortix' } } },
        { name: 'missing-token', hosts: [`missing.test:${h}`], inject: { header: 'X-Api-Key', format: 'key {value}' } },
      ],
    };
    containers[kind] = (await host.claim({ tenantId: tenantOf(kind), sessionId: `ses_${randomUUID()}` }, { network: allow, secrets })).containerId;
  }
}, 120_000);

afterAll(async () => {
  await host.stop({ destroy: true });
  for (const s of [http, https, impostor]) await new Promise((r) => s.close(r));
  await vault.close();
  await aws.close();
});

describe.each(Object.keys(VALUES) as Kind[])('a secret from the %s provider, bound to a host', (kind) => {
  it('is injected into plain HTTP and HTTPS requests for its host, replacing the sandbox\'s own header; other hosts get none', async () => {
    const [h, s] = [portOf(http), portOf(https)];
    const tag = `${kind}-${n}`;
    const r = await run(
      containers[kind] as string,
      fetchAll([
        { url: `http://bound.test:${h}/${tag}/plain` },
        { url: `https://bound.test:${s}/${tag}/tls` },
        { url: `http://other.test:${h}/${tag}/other-plain` },
        // Not intercepted: an opaque tunnel, the upstream's certificate is the sandbox's business.
        { url: `https://other.test:${s}/${tag}/other-tls`, verify: false },
        { url: `https://basic.test:${s}/${tag}/basic` },
      ]),
    );
    expect(r.stdout.trim().split('\n')).toEqual(Array(5).fill('200 saw an authorization'));
    expect(seen.get(`/${tag}/plain`)).toBe(`Bearer ${VALUES[kind]}`);
    expect(seen.get(`/${tag}/tls`)).toBe(`Bearer ${VALUES[kind]}`);
    expect(seen.get(`/${tag}/other-plain`)).toBe('Bearer sandbox-own');
    expect(seen.get(`/${tag}/other-tls`)).toBe('Bearer sandbox-own');
    expect(seen.get(`/${tag}/basic`)).toBe(`Basic ${Buffer.from(`kortix:${VALUES[kind]}`).toString('base64')}`);
  });
});

describe('the sandbox of a session with bound secrets', () => {
  it('never holds a value: not in its environment, its files, or any process\'s /proc entries', async () => {
    const id = containers.vault as string;
    // Traffic first, so that any value that passed through would have had its chance to land somewhere.
    await run(id, fetchAll([{ url: `https://bound.test:${portOf(https)}/probe` }]));
    // Counts only (a value never printed); the pattern is written so that no command line holds what it looks for.
    const r = await run(
      id,
      [
        'env | grep -c "S3cr[3]t"',
        'for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null; echo; done | tr "\\0" "\\n" | grep -c "S3cr[3]t"',
        'grep -rIl --exclude-dir=proc --exclude-dir=sys "S3cr[3]t" / 2>/dev/null | wc -l',
        'env | grep -c "^SSL_CERT_FILE=/tmp/.kortix-ca/ca-bundle.pem$"',
      ].join('; '),
    );
    expect(r.stdout.trim().split('\n')).toEqual(['0', '0', '0', '1']);
  });

  it('trusts the proxy\'s CA through a bundle that keeps the image\'s own roots', async () => {
    const r = await run(containers.files as string, 'grep -c "BEGIN CERTIFICATE" /tmp/.kortix-ca/ca-bundle.pem; cat /tmp/.kortix-ca/egress-ca.pem | head -1');
    const [count, first] = r.stdout.trim().split('\n');
    expect(Number(count)).toBeGreaterThanOrEqual(1);
    expect(first).toBe('-----BEGIN CERTIFICATE-----');
  });

  it('does not send a value to a bound host whose certificate the proxy cannot verify', async () => {
    const tag = `impostor-${n}`;
    const r = await run(containers.aws as string, fetchAll([{ url: `https://impostor.test:${portOf(impostor)}/${tag}` }]));
    expect(r.stdout).toMatch(/^502 kortix egress proxy: impostor\.test:\d+: .*(certificate|self.signed|verify)/i);
    expect(seen.has(`/${tag}`)).toBe(false);
  });

  it('answers 502 naming the secret when its value cannot be had, instead of sending the request without it', async () => {
    const tag = `missing-${n}`;
    const r = await run(containers.files as string, fetchAll([{ url: `http://missing.test:${portOf(http)}/${tag}` }]));
    expect(r.stdout.trim()).toMatch(/^502 kortix egress proxy: secret missing-token is not available: no secret missing-token/);
    expect(seen.has(`/${tag}`)).toBe(false);
  });
});

/**
 * Secrets through the whole stack (API, workflow, activities, sandbox, egress
 * proxy), with the Vault provider configured as a deployment would
 * (SECRETS_PROVIDER=vault against test/support/fake-vault.ts): a tenant
 * references a secret bound to a host; a session's sandbox calls that host
 * and the host sees the value while the sandbox, the stored messages, the
 * events and the model's answer see only a mask, in every encoding the host
 * echoed it back in. A name that does not exist is a 400 naming it (when
 * referenced, and when a session would start with it); another tenant
 * cannot reach the secret.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { FakeVault } from '../support/fake-vault.js';
import { startSession, waitForStatus } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';

const services = inject('services');
const VALUE = 'hvs.S3cr3t-Tok3n/with+chars';
const MASK = '[masked secret api-token]';
const vault = new FakeVault();
let stack: Stack;
let mock: MockLlmServer;
/** The upstream: records the Authorization it got, and echoes it back plain, base64, URL-encoded and hex. */
let upstream: Server;
const seen: (string | undefined)[] = [];
const portOf = (s: Server) => (s.address() as { port: number }).port;

const fetchEcho = (port: number) => String.raw`python3 - <<'PY'
import urllib.request
req = urllib.request.Request("http://127.0.0.1:${port}/echo", headers={"Authorization": "Bearer sandbox-own"})
with urllib.request.urlopen(req, timeout=10) as r: print(r.read().decode())
PY`;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    seen.push(req.headers.authorization);
    const token = auth.replace(/^Bearer /, '');
    res.end([`plain ${auth}`, `base64 ${Buffer.from(token).toString('base64')}`, `url ${encodeURIComponent(token)}`, `hex ${Buffer.from(token).toString('hex')}`].join('\n'));
  });
  await new Promise<void>((r) => upstream.listen(0, '0.0.0.0', () => r()));
  await vault.start();
  vault.addToken('kortix-dev-token');
  const dir = mkdtempSync(join(tmpdir(), 'kortix-secrets-policies-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(
    join(dir, 'templates', 'with-secrets.yaml'),
    ['name: with-secrets', 'tools: [shell]', 'network:', `  allow: ["127.0.0.1:${portOf(upstream)}"]`, 'rules:', '  - id: shell', '    tool: shell', '    action: allow', 'default: deny', ''].join('\n'),
  );
  mock = await startMockLlm({
    scenarios: [{ name: 'echo', turns: [{ tool_calls: [{ name: 'shell', arguments: { command: fetchEcho(portOf(upstream)) } }] }, { content: '{{tool.stdout}}' }] }],
  });
  stack = await startStack(services, {
    policiesDir: dir,
    env: {
      MOCK_LLM_URL: mock.url,
      SANDBOX_EGRESS_PROXY_PORT: String(35_000 + Math.floor(Math.random() * 2_000)),
      SECRETS_PROVIDER: 'vault',
      VAULT_ADDR: vault.url,
      VAULT_TOKEN: 'kortix-dev-token',
      SANDBOX_EGRESS_CA_DIR: mkdtempSync(join(tmpdir(), 'kortix-egress-ca-')),
    },
  });
  vault.put('secret', `kortix/${stack.tenantId}/api-token`, { value: VALUE });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await mock?.close();
  await vault.close();
  await new Promise((r) => upstream.close(r));
});

const put = (who: 'alice' | 'mallory', name: string, body: unknown) => stack.api('PUT', `/v1/secrets/${name}`, who, body);

describe('secret references of a tenant', () => {
  it('are refused when the provider has no such secret (400 naming the field), and never reach another tenant\'s secret', async () => {
    const missing = await put('alice', 'ghost-token', {});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: 'secret_not_found', fields: [{ path: 'params.name[0]' }] } });
    // Mallory's tenant has no api-token: the name resolves under her tenant only, never alice's.
    const other = await put('mallory', 'api-token', { hosts: [`127.0.0.1:${portOf(upstream)}`], inject: { header: 'Authorization', format: 'Bearer {value}' } });
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: { code: 'secret_not_found' } });
    const bad = await put('alice', '..%2Fother', {});
    expect(bad.status).toBe(400);
    expect(vault.requests.some((r) => r.path.includes('..'))).toBe(false);
  });

  it('make a session start fail with a 400 naming the secret when it no longer exists', async () => {
    vault.put('secret', `kortix/${stack.tenantId}/temp-token`, { value: 'temporary-value-1' });
    expect((await put('alice', 'temp-token', {})).status).toBe(200);
    vault.deleteVersion('secret', `kortix/${stack.tenantId}/temp-token`, 1);
    const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'hi', policy: 'with-secrets', metadata: { scenario: 'echo' } });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string; fields: { path: string }[] } };
    expect(error.code).toBe('secret_not_found');
    expect(error.message).toMatch(/no secret temp-token/);
    expect(error.fields[0]?.path).toMatch(/^tenant\.secrets\[\d+\]$/);
    expect((await stack.api('DELETE', '/v1/secrets/temp-token', 'alice')).status).toBe(204);
  });
});

describe('an agent version naming a secret', () => {
  it('cannot be saved when the provider has no such secret (400 naming spec.secrets[i])', async () => {
    const res = await stack.api('POST', '/v1/agents', 'alice', {
      slug: 'with-ghost',
      spec: {
        systemPrompt: 'call the api',
        tools: ['shell'],
        policy: 'with-secrets',
        secrets: [{ name: 'ghost-token', hosts: ['api.example.com'], inject: { header: 'Authorization', format: 'Bearer {value}' } }],
      },
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; fields: { path: string }[] } };
    expect(error.code).toBe('secret_not_found');
    expect(error.fields[0]?.path).toMatch(/spec\.secrets\[0\]$/);
  });
});

describe('a session of a tenant with a secret bound to a host', () => {
  it('has the value injected by the proxy, and sees only masks of it in its output, events, messages and answer', async () => {
    const ok = await put('alice', 'api-token', { hosts: [`127.0.0.1:${portOf(upstream)}`], inject: { header: 'Authorization', format: 'Bearer {value}' } });
    expect(ok.status).toBe(200);
    expect(JSON.stringify(await ok.json())).not.toContain(VALUE);
    const session = await startSession(stack, { message: 'call the api', policy: 'with-secrets', metadata: { scenario: 'echo' } });
    const done = await waitForStatus(stack, session.id, undefined, 150_000);
    expect(done.status, done.error ?? '').toBe('completed');
    // The upstream got the value, not the sandbox's own header.
    expect(seen.at(-1)).toBe(`Bearer ${VALUE}`);
    const answer = done.finalAnswer ?? '';
    expect(answer.trim().split('\n').map((l) => l.trim())).toEqual([`plain Bearer ${MASK}`, `base64 ${MASK}`, `url ${MASK}`, `hex ${MASK}`]);
    // Nothing stored for the session holds the value in any of those forms.
    const forms = [VALUE, Buffer.from(VALUE).toString('base64'), encodeURIComponent(VALUE), Buffer.from(VALUE).toString('hex')];
    const messages = await sql<{ content: string }>`select coalesce(content, '') as content from messages where session_id = ${session.id}`.execute(stack.db);
    const events = await sql<{ data: string }>`select data::text as data from session_events where session_id = ${session.id}`.execute(stack.db);
    const stored = [...messages.rows.map((r) => r.content), ...events.rows.map((r) => r.data)].join('\n');
    expect(stored).toContain(MASK);
    for (const f of forms) expect(stored).not.toContain(f);
  });
});

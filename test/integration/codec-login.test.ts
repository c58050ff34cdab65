/**
 * The codec login for the Temporal Web UI over the real app (Postgres, Temporal):
 * `POST /v1/codec/login` sets an HttpOnly, SameSite=Strict cookie on /v1/codec;
 * with that cookie alone (as the UI's credentialed fetch sends it) decode and
 * encode work for the tenant; a tampered, expired or other-key cookie is a 401
 * with its code, tenant B's cookie on tenant A's payload a 403 wrong_tenant, a
 * cookie cannot log in again, logout clears it; CORS answers the UI's origin
 * with credentials and nobody else's preflight.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CODEC_COOKIE, signCodecLogin } from '../../api/codec-login.js';
import { codecLoginKey } from '../../config/index.js';
import { createApiKey } from '../../db/tenants.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let ui: string;
const MARKER = 'periwinkle-codec-login';
type Payloads = { payloads: { metadata: Record<string, string>; data: string }[] };
const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify({ note: MARKER })).toString('base64') };
let sealed: Payloads['payloads'][number];

beforeAll(async () => {
  stack = await startStack(inject('services'), { workers: false });
  ui = new URL(stack.config.TEMPORAL_UI_URL).origin;
  const enc = await stack.api('POST', '/v1/codec/encode', 'alice', { payloads: [plain] });
  expect(enc.status).toBe(200);
  sealed = ((await enc.json()) as Payloads).payloads[0] as Payloads['payloads'][number];
});
afterAll(async () => {
  await stack?.close();
});

/** The cookie value a login's Set-Cookie carries. */
function cookieOf(res: Response): string {
  const set = res.headers.get('set-cookie') ?? '';
  const value = new RegExp(`${CODEC_COOKIE}=([^;]*)`).exec(set)?.[1];
  if (!value) throw new Error(`no ${CODEC_COOKIE} in ${set}`);
  return value;
}

/** As the Web UI calls it: from its origin, content-type and namespace, the cookie and no tenant headers. */
function fromUi(path: string, cookie: string | undefined, body: unknown) {
  return stack.app.request(path, {
    method: 'POST',
    headers: { origin: ui, 'content-type': 'application/json', 'x-namespace': stack.config.TEMPORAL_NAMESPACE, ...(cookie ? { cookie: `${CODEC_COOKIE}=${cookie}` } : {}) },
    body: JSON.stringify(body),
  });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe('the codec login cookie', () => {
  it('is set by a header-authenticated login: HttpOnly, SameSite=Strict, Path=/v1/codec, expiring', async () => {
    const res = await stack.api('POST', '/v1/codec/login', 'alice');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tenantId: string; principal: string; expiresAt: string };
    expect(body.tenantId).toBe(stack.tenantId);
    expect(body.principal).toBe('alice');
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(stack.config.CODEC_LOGIN_TTL - 60_000);
    const set = res.headers.get('set-cookie') ?? '';
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\/v1\/codec(;|$)/);
    expect(set).toMatch(new RegExp(`Max-Age=${Math.floor(stack.config.CODEC_LOGIN_TTL / 1000)}`));
    // The token holds no API key.
    expect(set).not.toContain(stack.keys.alice);
  });

  it("decodes and encodes with the cookie alone, answering the UI's origin with credentials", async () => {
    const cookie = cookieOf(await stack.api('POST', '/v1/codec/login', 'carol'));
    const res = await fromUi('/v1/codec/decode', cookie, { payloads: [sealed, plain] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Payloads).payloads).toEqual([plain, plain]);
    expect(res.headers.get('access-control-allow-origin')).toBe(ui);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const enc = await fromUi('/v1/codec/encode', cookie, { payloads: [plain] });
    expect(enc.status).toBe(200);
    const keyId = Buffer.from(((await enc.json()) as Payloads).payloads[0]?.metadata['encryption-key-id'] ?? '', 'base64').toString();
    expect(keyId.startsWith(`${stack.tenantId}#`)).toBe(true);
  });

  it('without it the payload stays encrypted: 401 unauthorized', async () => {
    const res = await fromUi('/v1/codec/decode', undefined, { payloads: [sealed] });
    expect([res.status, await errorCode(res)]).toEqual([401, 'unauthorized']);
  });

  it("refuses a tampered, expired or other-key cookie (401) and another tenant's cookie on this tenant's payload (403)", async () => {
    const cookie = cookieOf(await stack.api('POST', '/v1/codec/login', 'alice'));
    const [v, body, sig] = cookie.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { t: string };
    const otherTenant = Buffer.from(JSON.stringify({ ...claims, t: `other-${stack.tenantId}` })).toString('base64url');
    const tampered = await fromUi('/v1/codec/decode', `${v}.${otherTenant}.${sig}`, { payloads: [sealed] });
    expect([tampered.status, await errorCode(tampered)]).toEqual([401, 'codec_login_invalid']);

    const login = { tenantId: stack.tenantId, principal: 'alice', keyId: 'k', expiresAt: Date.now() - 1000 };
    const expired = await fromUi('/v1/codec/decode', signCodecLogin(login, codecLoginKey(stack.config)), { payloads: [sealed] });
    expect([expired.status, await errorCode(expired)]).toEqual([401, 'codec_login_expired']);
    const otherKey = await fromUi('/v1/codec/decode', signCodecLogin({ ...login, expiresAt: Date.now() + 60_000 }, Buffer.from('x'.repeat(32))), { payloads: [sealed] });
    expect([otherKey.status, await errorCode(otherKey)]).toEqual([401, 'codec_login_invalid']);

    const mallory = cookieOf(await stack.api('POST', '/v1/codec/login', 'mallory'));
    const wrong = await fromUi('/v1/codec/decode', mallory, { payloads: [sealed] });
    expect([wrong.status, await errorCode(wrong)]).toEqual([403, 'wrong_tenant']);
  });

  it('lasts only as long as the API key that logged in: revoked, its cookie is a 401', async () => {
    const erin = await createApiKey(stack.db, { tenantId: stack.tenantId, principal: 'erin' });
    const login = await stack.app.request('/v1/codec/login', { method: 'POST', headers: { 'x-tenant-id': stack.tenantId, authorization: `Bearer ${erin.key}` } });
    expect(login.status).toBe(200);
    const cookie = cookieOf(login);
    expect((await fromUi('/v1/codec/decode', cookie, { payloads: [sealed] })).status).toBe(200);
    await stack.db.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', erin.id).execute();
    const after = await fromUi('/v1/codec/decode', cookie, { payloads: [sealed] });
    expect([after.status, await errorCode(after)]).toEqual([401, 'codec_login_revoked']);
  });

  it('is honoured on the codec routes only and cannot renew itself; logout clears it', async () => {
    const cookie = cookieOf(await stack.api('POST', '/v1/codec/login', 'alice'));
    const renew = await fromUi('/v1/codec/login', cookie, {});
    expect([renew.status, await errorCode(renew)]).toEqual([401, 'unauthorized']);
    const elsewhere = await stack.app.request('/v1/sessions', { headers: { cookie: `${CODEC_COOKIE}=${cookie}` } });
    expect(elsewhere.status).toBe(401);
    const sameSiteElsewhere = await stack.app.request('/v1/codec/decode', {
      method: 'POST',
      headers: { origin: 'http://127.0.0.1:9', 'content-type': 'application/json', cookie: `${CODEC_COOKIE}=${cookie}` },
      body: JSON.stringify({ payloads: [sealed] }),
    });
    expect([sameSiteElsewhere.status, await errorCode(sameSiteElsewhere)]).toEqual([403, 'cors_origin_refused']);

    const out = await fromUi('/v1/codec/logout', cookie, {});
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`${CODEC_COOKIE}=;.*Max-Age=0.*Path=/v1/codec`));
  });

  it("answers the UI origin's preflight with credentials and the exact origin, and refuses another origin's", async () => {
    const preflight = (origin: string) =>
      stack.app.request('/v1/codec/decode', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' } });
    const ok = await preflight(ui);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ui);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    const other = await preflight('http://127.0.0.1:9');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

/**
 * The codec login cookie's token and middleware (api/codec-login.ts) on a small
 * Hono app: a signed token round-trips; a tampered, re-signed-with-another-key,
 * expired, truncated or hostile one is a 401 with its code; the cookie is
 * honoured only without tenant headers and only from the UI's origin; CORS
 * answers the UI's exact origin with credentials and refuses other preflights.
 * The same over the real app, Postgres and Temporal: test/integration/codec-login.test.ts.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { CODEC_COOKIE, codecCookieAuth, codecCors, signCodecLogin, verifyCodecLogin, type CodecLogin } from '../../api/codec-login.js';
import { onApiError } from '../../api/errors.js';
import { codecLoginKey, loadConfig } from '../../config/index.js';

const key = Buffer.from('k'.repeat(32));
const ui = 'http://127.0.0.1:8233';
const login: CodecLogin = { tenantId: 'acme', principal: 'alice', keyId: 'key_1', expiresAt: Date.now() + 60_000 };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('the codec login token', () => {
  it('round-trips the tenant, principal and expiry it was signed with', () => {
    expect(verifyCodecLogin(signCodecLogin(login, key), key)).toEqual(login);
  });

  it('refuses a tampered body, another key, an expired login and hostile strings', () => {
    const token = signCodecLogin(login, key);
    const [v, body, sig] = token.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ t: 'globex', p: 'alice', k: 'key_1', exp: login.expiresAt })).toString('base64url');
    expect(code(() => verifyCodecLogin(`${v}.${forged}.${sig}`, key))).toBe('codec_login_invalid');
    expect(code(() => verifyCodecLogin(`${v}.${body}.${sig.slice(0, -2)}AA`, key))).toBe('codec_login_invalid');
    expect(code(() => verifyCodecLogin(signCodecLogin(login, Buffer.from('o'.repeat(32))), key))).toBe('codec_login_invalid');
    expect(code(() => verifyCodecLogin(`v2.${body}.${sig}`, key))).toBe('codec_login_invalid');
    expect(code(() => verifyCodecLogin(signCodecLogin({ ...login, expiresAt: Date.now() - 1 }, key), key))).toBe('codec_login_expired');
    // Expired is checked only once the MAC holds: an altered expiry is invalid, not "expired".
    const later = Buffer.from(JSON.stringify({ t: 'acme', p: 'alice', k: 'key_1', exp: login.expiresAt + 1e9 })).toString('base64url');
    expect(code(() => verifyCodecLogin(`${v}.${later}.${sig}`, key))).toBe('codec_login_invalid');
    for (const hostile of ['', 'v1..', `${token}\u0000`, `v1.${'A'.repeat(5000)}.${sig}`, `v1.\ud800.${sig}`, '../../etc/passwd']) {
      expect(code(() => verifyCodecLogin(hostile, key))).toBe('codec_login_invalid');
    }
    // A correctly signed body that is not the claims' shape.
    const odd = Buffer.from(JSON.stringify({ t: 'acme', p: 'alice', k: 'key_1', exp: login.expiresAt, roles: ['admin'] })).toString('base64url');
    const oddSig = signCodecLogin(login, key).split('.')[2];
    expect(code(() => verifyCodecLogin(`v1.${odd}.${oddSig}`, key))).toBe('codec_login_invalid');
  });

  it('is signed with CODEC_LOGIN_KEY, else a key derived from (never equal to) the vote signing key', () => {
    const own = codecLoginKey(loadConfig({ KORTIX_ENV: 'test', CODEC_LOGIN_KEY: 'c'.repeat(32) }));
    expect(own.toString()).toBe('c'.repeat(32));
    const derived = codecLoginKey(loadConfig({ KORTIX_ENV: 'test', VOTE_SIGNING_KEY: 'v'.repeat(32) }));
    expect(derived.length).toBe(32);
    expect(derived.toString()).not.toContain('v'.repeat(32));
    expect(codecLoginKey(loadConfig({ KORTIX_ENV: 'test', VOTE_SIGNING_KEY: 'w'.repeat(32) })).equals(derived)).toBe(false);
    expect(() => loadConfig({ KORTIX_ENV: 'prod', VOTE_SIGNING_KEY: 'v'.repeat(40), PAYLOAD_CODEC_RING: '/x', CODEC_LOGIN_KEY: 'short' })).toThrow(/CODEC_LOGIN_KEY: at least 32/);
  });
});

/** codecCors and codecCookieAuth in front of a route that reports who it saw. */
/** Key ids the fake key table has revoked. */
const revoked = new Set<string>();

function app(): Hono {
  const a = new Hono();
  a.onError(onApiError(() => {}));
  a.use('/v1/codec/*', codecCors(ui));
  a.use('/v1/codec/decode', codecCookieAuth({ key, uiOrigin: ui, keyActive: (_tenant, keyId) => Promise.resolve(!revoked.has(keyId)) }));
  a.post('/v1/codec/decode', (c) => c.json({ principal: c.get('principal') ?? null }));
  return a;
}

async function decode(headers: Record<string, string>) {
  const res = await app().request('http://127.0.0.1:8000/v1/codec/decode', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
  return { res, body: (await res.json()) as { principal?: { tenantId: string; principal: string } | null; error?: { code: string } } };
}

describe('the cookie and CORS middleware', () => {
  it("authenticates a cookie-only request from the UI's origin, with credentials answered for that exact origin", async () => {
    const { res, body } = await decode({ cookie: `${CODEC_COOKIE}=${signCodecLogin(login, key)}`, origin: ui });
    expect(res.status).toBe(200);
    expect(body.principal).toMatchObject({ tenantId: 'acme', principal: 'alice' });
    expect(res.headers.get('access-control-allow-origin')).toBe(ui);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('leaves a request with tenant headers to tenant authentication, and a bad cookie is a 401 with its code', async () => {
    const withHeaders = await decode({ cookie: `${CODEC_COOKIE}=${signCodecLogin(login, key)}`, 'x-tenant-id': 'acme', authorization: 'Bearer k' });
    expect(withHeaders.body.principal).toBeNull();
    const expired = await decode({ cookie: `${CODEC_COOKIE}=${signCodecLogin({ ...login, expiresAt: 1 }, key)}`, origin: ui });
    expect([expired.res.status, expired.body.error?.code]).toEqual([401, 'codec_login_expired']);
    const tampered = await decode({ cookie: `${CODEC_COOKIE}=${signCodecLogin(login, key)}x`, origin: ui });
    expect([tampered.res.status, tampered.body.error?.code]).toEqual([401, 'codec_login_invalid']);
  });

  it('stops honouring the cookie once the API key that logged in is revoked', async () => {
    const cookie = `${CODEC_COOKIE}=${signCodecLogin(login, key)}`;
    expect((await decode({ cookie, origin: ui })).res.status).toBe(200);
    revoked.add(login.keyId);
    try {
      const { res, body } = await decode({ cookie, origin: ui });
      expect([res.status, body.error?.code]).toEqual([401, 'codec_login_revoked']);
    } finally {
      revoked.delete(login.keyId);
    }
  });

  it("refuses the cookie from another origin of the same site, and answers it no CORS headers", async () => {
    const { res, body } = await decode({ cookie: `${CODEC_COOKIE}=${signCodecLogin(login, key)}`, origin: 'http://127.0.0.1:9999' });
    expect([res.status, body.error?.code]).toEqual([403, 'cors_origin_refused']);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it("answers the UI origin's preflight with credentials and refuses any other origin's", async () => {
    const preflight = (origin: string | undefined) =>
      app().request('/v1/codec/decode', {
        method: 'OPTIONS',
        headers: { ...(origin ? { origin } : {}), 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
      });
    const ok = await preflight(ui);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ui);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-headers')).toContain('x-namespace');
    for (const other of ['https://evil.example', 'http://127.0.0.1:9999', 'null', undefined]) {
      const res = await preflight(other);
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('cors_origin_refused');
    }
  });
});

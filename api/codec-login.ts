/**
 * A login for the Temporal Web UI's codec calls. The UI cannot send our tenant
 * headers, but it can fetch the codec endpoint with cross-origin credentials
 * (its config `codec.includeCredentials`, or its Data Encoder setting), and the
 * UI and the API are the same site (ports do not count), so a cookie of the API
 * goes along. `POST /v1/codec/login` (header-authenticated) sets that cookie:
 * HttpOnly, SameSite=Strict, Path=/v1/codec, holding a token signed with
 * HMAC-SHA256 (CODEC_LOGIN_KEY) that names the tenant, the principal and its
 * expiry. The codec routes accept it instead of the headers; it grants nothing
 * outside /v1/codec (the path keeps the browser from sending it elsewhere, and
 * only the codec routes read it).
 *
 * CORS here too: the UI's exact origin gets `Access-Control-Allow-Credentials`,
 * any other origin's preflight a 403 and no CORS headers at all.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { RouteDoc } from './openapi.js';
import { ApiError } from './errors.js';

export const CODEC_COOKIE = 'kortix_codec';
export const CODEC_COOKIE_PATH = '/v1/codec';
/** The token's format version: the MAC covers it, so a future format is never read as this one. */
const VERSION = 'v1';
const MAX_TOKEN = 2048;

export interface CodecLogin {
  readonly tenantId: string;
  readonly principal: string;
  readonly keyId: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

const claims = z
  .object({ t: z.string().min(1).max(256), p: z.string().min(1).max(256), k: z.string().min(1).max(256), exp: z.number().int().positive() })
  .strict();

function mac(key: Buffer, body: string): Buffer {
  return createHmac('sha256', key).update(`${VERSION}.${body}`).digest();
}

export function signCodecLogin(login: CodecLogin, key: Buffer): string {
  const body = Buffer.from(JSON.stringify({ t: login.tenantId, p: login.principal, k: login.keyId, exp: login.expiresAt })).toString('base64url');
  return `${VERSION}.${body}.${mac(key, body).toString('base64url')}`;
}

/** The login a cookie holds, or a 401 naming why not (never which part of the MAC was wrong). */
export function verifyCodecLogin(token: string, key: Buffer, now = Date.now()): CodecLogin {
  const invalid = () => new ApiError(401, 'codec_login_invalid', 'the codec login cookie is not one this API signed: log in again (POST /v1/codec/login)');
  const match = token.length <= MAX_TOKEN ? /^v1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token) : null;
  if (!match?.[1] || !match[2]) throw invalid();
  const given = Buffer.from(match[2], 'base64url');
  const expected = mac(key, match[1]);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
  let parsed: z.infer<typeof claims>;
  try {
    parsed = claims.parse(JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8')));
  } catch {
    throw invalid();
  }
  if (parsed.exp <= now) throw new ApiError(401, 'codec_login_expired', 'the codec login has expired: log in again (POST /v1/codec/login)');
  return { tenantId: parsed.t, principal: parsed.p, keyId: parsed.k, expiresAt: parsed.exp };
}

export interface CodecLoginOptions {
  readonly key: Buffer;
  readonly ttlMs: number;
  /** The Temporal Web UI's origin: the only one whose requests carry the cookie's authority, and whose preflight is answered. */
  readonly uiOrigin: string;
  /** Marks the cookie Secure (production, or an https API). */
  readonly secure: boolean;
}

/** CORS for /v1/codec/*: the UI's exact origin, with credentials; a preflight from anywhere else is refused. */
export function codecCors(uiOrigin: string): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (c.req.method === 'OPTIONS') {
      if (origin !== uiOrigin) throw new ApiError(403, 'cors_origin_refused', `only ${uiOrigin} may call the codec endpoint from a browser`, [{ path: 'header.origin', message: origin ?? 'missing' }]);
      return new Response(null, {
        status: 204,
        headers: {
          'access-control-allow-origin': uiOrigin,
          'access-control-allow-credentials': 'true',
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'content-type, authorization, x-tenant-id, x-namespace',
          'access-control-max-age': '600',
          vary: 'Origin',
        },
      });
    }
    await next();
    c.res.headers.append('vary', 'Origin');
    if (origin === uiOrigin) {
      c.res.headers.set('access-control-allow-origin', uiOrigin);
      c.res.headers.set('access-control-allow-credentials', 'true');
    }
  };
}

/**
 * Authenticates a codec call by its cookie when it carries no tenant headers (the headers win when both come).
 * Runs before tenantAuth, which leaves a principal set here alone. A browser's cookie counts only on a request
 * from the UI's origin (or the API's own): a page elsewhere on the same site cannot spend it.
 */
export function codecCookieAuth(opts: Pick<CodecLoginOptions, 'key' | 'uiOrigin'> & { readonly keyActive: (tenantId: string, keyId: string) => Promise<boolean> }): MiddlewareHandler {
  return async (c, next) => {
    const token = getCookie(c, CODEC_COOKIE);
    if (token === undefined || c.req.header('authorization') !== undefined || c.req.header('x-tenant-id') !== undefined) return next();
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== opts.uiOrigin && origin !== new URL(c.req.url).origin) {
      throw new ApiError(403, 'cors_origin_refused', `the codec login cookie is honoured from ${opts.uiOrigin} only`, [{ path: 'header.origin', message: origin }]);
    }
    const login = verifyCodecLogin(token, opts.key);
    // The cookie lasts as long as the API key that logged in: a revoked key's cookie stops at once.
    if (!(await opts.keyActive(login.tenantId, login.keyId))) {
      throw new ApiError(401, 'codec_login_revoked', 'the API key this login was made with is revoked; log in again', [{ path: `cookie.${CODEC_COOKIE}`, message: 'revoked key' }]);
    }
    c.set('principal', { tenantId: login.tenantId, principal: login.principal, keyId: login.keyId, roles: [] });
    return next();
  };
}

/** `POST /v1/codec/login` and `/logout` (mounted under /v1/codec, behind tenant authentication). */
export function codecLoginRoutes(opts: CodecLoginOptions): Hono {
  const app = new Hono();
  const cookie = (maxAge: number) => ({ path: CODEC_COOKIE_PATH, httpOnly: true, sameSite: 'Strict' as const, secure: opts.secure, maxAge });

  app.post('/login', (c) => {
    // The cookie only comes from the headers: a login cannot be stretched by the cookie it would replace.
    if (c.req.header('authorization') === undefined) throw new ApiError(401, 'unauthorized', 'log in with X-Tenant-Id and Authorization: Bearer <api key>');
    const { tenantId, principal, keyId } = c.get('principal');
    const expiresAt = Date.now() + opts.ttlMs;
    setCookie(c, CODEC_COOKIE, signCodecLogin({ tenantId, principal, keyId, expiresAt }, opts.key), cookie(Math.floor(opts.ttlMs / 1000)));
    return c.json({ tenantId, principal, expiresAt: new Date(expiresAt).toISOString() });
  });

  app.post('/logout', (c) => {
    deleteCookie(c, CODEC_COOKIE, cookie(0));
    return c.json({ loggedOut: true });
  });
  return app;
}

export const codecLoginDocs: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/codec/login',
    operationId: 'codecLogin',
    summary: 'Set the codec login cookie (HttpOnly, SameSite=Strict, Path=/v1/codec) the Temporal Web UI sends with credentials to decode',
    tag: 'codec',
    responses: {
      200: { description: 'logged in: the cookie is set until expiresAt', schema: z.object({ tenantId: z.string(), principal: z.string(), expiresAt: z.string() }) },
      401: { description: 'unauthorized: the tenant headers are required (a cookie cannot renew itself)' },
    },
  },
  {
    method: 'post',
    path: '/v1/codec/logout',
    operationId: 'codecLogout',
    summary: 'Clear the codec login cookie',
    tag: 'codec',
    responses: {
      200: { description: 'the cookie is cleared', schema: z.object({ loggedOut: z.literal(true) }) },
      401: { description: 'codec_login_invalid | codec_login_expired | unauthorized' },
    },
  },
];

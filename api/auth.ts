/**
 * Tenant authentication: `X-Tenant-Id` and `Authorization: Bearer <key>`.
 * The key's principal is who acts (requester, approver); keys are looked up by
 * their sha256, so the database never holds a usable key.
 */
import type { MiddlewareHandler } from 'hono';
import type { Principal } from '../db/tenants.js';
import { ApiError } from './errors.js';

declare module 'hono' {
  interface ContextVariableMap {
    principal: Principal;
  }
}

export interface TenantAuthOptions {
  /** Looks up a key; undefined when unknown, revoked or of another tenant. */
  readonly authenticate: (tenantId: string, key: string) => Promise<Principal | undefined>;
  readonly tenantHeader?: string;
}

export function tenantAuth({ authenticate, tenantHeader = 'x-tenant-id' }: TenantAuthOptions): MiddlewareHandler {
  if (!authenticate) throw new Error('tenantAuth: authenticate is required');
  return async (c, next) => {
    // Already authenticated by a narrower scheme mounted before this one (the codec login cookie, api/codec-login.ts).
    if (c.get('principal') !== undefined) return next();
    const tenantId = c.req.header(tenantHeader)?.trim();
    const authorization = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!tenantId || !match?.[1]) {
      throw new ApiError(401, 'unauthorized', `send the ${tenantHeader} header and Authorization: Bearer <api key>`);
    }
    const principal = await authenticate(tenantId, match[1]);
    if (!principal) throw new ApiError(401, 'unauthorized', 'unknown API key for this tenant');
    c.set('principal', principal);
    await next();
  };
}

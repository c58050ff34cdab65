/**
 * The console's one way to call the API: the tenant and key from
 * sessionStorage as `x-tenant-id` and the Bearer header, errors turned into
 * messages a person can act on. Routes built as chained Hono apps (cost,
 * replay) are called through Hono's typed client `hc`, so request and
 * response types come from the route code itself.
 */
import { hc } from 'hono/client';
import type { CostRoutes } from '../../api/routes/cost.js';
import type { ReplayRoutes } from '../../api/routes/replay.js';

const STORAGE_KEY = 'kortix.console.auth';

export interface Auth {
  readonly tenant: string;
  readonly key: string;
}

export function getAuth(): Auth | null {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<Auth>;
    return typeof parsed.tenant === 'string' && typeof parsed.key === 'string' ? { tenant: parsed.tenant, key: parsed.key } : null;
  } catch {
    return null;
  }
}

export function setAuth(auth: Auth | null): void {
  if (auth) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(auth));
  else sessionStorage.removeItem(STORAGE_KEY);
  window.dispatchEvent(new Event('kortix-auth'));
}

export function authHeaders(auth = getAuth()): Record<string, string> {
  return auth ? { 'x-tenant-id': auth.tenant, authorization: `Bearer ${auth.key}` } : {};
}

/** What people read instead of an error code. */
const MESSAGES: Record<string, string> = {
  unauthorized: 'Wrong tenant or API key.',
  requester_cannot_approve: 'You started this session, so someone else has to decide its approvals.',
  gate_closed: 'This approval is already closed: someone decided it before you.',
  approver_excluded: 'The policy does not let you decide this approval.',
  role_required: 'This approval needs a role you do not have.',
  session_closed: 'The session has already ended.',
  rate_limited: 'Too many requests: wait a moment and try again.',
  too_many_streams: 'Too many live views are open for this tenant: close one and reload.',
};

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function failureOf(res: Response): Promise<ApiFailure> {
  let code = `http_${res.status}`;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not JSON: keep the status text
  }
  return new ApiFailure(res.status, code, MESSAGES[code] ?? message);
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { ...authHeaders(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) {
    const failure = await failureOf(res);
    if (res.status === 401) setAuth(null);
    throw failure;
  }
  return (await res.json()) as T;
}

/** Hono's typed clients of the chained route apps. */
const clientOptions = { headers: () => authHeaders() };
export const costClient = hc<CostRoutes>('/v1', clientOptions);
export const replayClient = hc<ReplayRoutes>('/v1', clientOptions);

/** The JSON of a typed client call, or an ApiFailure. */
export async function ok<T>(res: { ok: boolean; json(): Promise<T> } & Response): Promise<T> {
  if (!res.ok) throw await failureOf(res);
  return res.json();
}

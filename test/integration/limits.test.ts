/**
 * Fair sharing through the real API, workers, Temporal and Postgres: per
 * tenant, requests per second, sessions running at once, open event streams,
 * sandboxes held and the idle-timeout cap. Each limit is set on a tenant of
 * its own (a tenant_limits row), so the others keep the defaults.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setTenantLimits, type TenantLimits } from '../../db/tenant-limits.js';
import { createApiKey, createTenant } from '../../db/tenants.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(inject('services'));
});
afterAll(async () => {
  await stack?.close();
});

interface Tenant {
  id: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

/** A tenant of its own, with one key and, optionally, its own limits. */
async function tenantWith(limits: { [K in keyof TenantLimits]?: number }): Promise<Tenant> {
  const id = `lim-${randomUUID().slice(0, 8)}`;
  await createTenant(stack.db, { id });
  const { key } = await createApiKey(stack.db, { tenantId: id, principal: 'alice' });
  await setTenantLimits(stack.db, id, limits);
  return {
    id,
    call: async (method, path, body, headers = {}) =>
      stack.app.request(path, {
        method,
        headers: { 'x-tenant-id': id, authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
  };
}

type ErrorJson = { error: { code: string; message: string; fields?: { path: string; message: string }[] } };
const errorOf = async (res: Response) => ((await res.json()) as ErrorJson).error;

/** Starts a session that stays running (it waits at the walk-through's approval gate). */
async function startWaiting(t: Tenant): Promise<Response> {
  return t.call('POST', '/v1/sessions', { message: 'Please clean up the build cache' });
}

async function endSession(t: Tenant, id: string): Promise<void> {
  expect((await t.call('POST', `/v1/sessions/${id}/cancel`, {})).status).toBe(202);
  await waitFor(async () => {
    const row = await stack.db.selectFrom('sessions').select('ended_at').where('id', '=', id).executeTakeFirst();
    return row?.ended_at ? true : undefined;
  }, 60_000, `session ${id} to end`);
}

describe('requests per second', () => {
  it('answers 429 with Retry-After and a code once the bucket is empty, per tenant, and refills', async () => {
    const t = await tenantWith({ requestsPerSecond: 1, requestBurst: 3 });
    const other = await tenantWith({});
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await t.call('GET', '/v1/sessions')).status);
    expect(statuses).toEqual([200, 200, 200]);
    const refused = await t.call('GET', '/v1/sessions');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await errorOf(refused)).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/1 requests per second \(bursts of 3\)/) });
    // Another tenant is not slowed down by this one.
    expect((await other.call('GET', '/v1/sessions')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await t.call('GET', '/v1/sessions')).status).toBe(200);
  });
});

describe('sessions running at once', () => {
  it('refuses a start beyond the limit with 429, Retry-After and too_many_sessions, even when the starts race', async () => {
    const t = await tenantWith({ runningSessions: 2 });
    const answers = await Promise.all(Array.from({ length: 5 }, () => startWaiting(t)));
    const started = answers.filter((r) => r.status === 201);
    const refused = answers.filter((r) => r.status === 429);
    expect([started.length, refused.length]).toEqual([2, 3]);
    expect(refused[0]?.headers.get('retry-after')).toBe('5');
    expect(await errorOf(refused[0] as Response)).toMatchObject({ code: 'too_many_sessions', message: expect.stringMatching(/has 2 sessions running \(the most is 2\)/) });
    // Refused starts leave nothing behind: no row, no workflow.
    const rows = await stack.db.selectFrom('sessions').select('id').where('tenant_id', '=', t.id).execute();
    expect(rows).toHaveLength(2);

    await endSession(t, rows[0]?.id as string);
    const next = await startWaiting(t);
    expect(next.status).toBe(201);
    for (const id of [rows[1]?.id, ((await next.json()) as { id: string }).id]) await endSession(t, id as string);
  });
});

describe('idle timeout cap', () => {
  it('refuses idleTimeoutSeconds over the tenant cap with a 400 naming the field', async () => {
    const t = await tenantWith({ idleTimeoutSeconds: 30 });
    const over = await t.call('POST', '/v1/sessions', { message: 'hi', idleTimeoutSeconds: 31 });
    expect(over.status).toBe(400);
    expect(await errorOf(over)).toMatchObject({
      code: 'validation_failed',
      fields: [{ path: 'body.idleTimeoutSeconds', message: 'at most 30 seconds for this tenant' }],
    });
    // The default cap (TENANT_MAX_IDLE_TIMEOUT_SECONDS, 3600) for a tenant without its own.
    const plain = await tenantWith({});
    const overDefault = await plain.call('POST', '/v1/sessions', { message: 'hi', idleTimeoutSeconds: 7_200 });
    expect(overDefault.status).toBe(400);
    expect((await errorOf(overDefault)).fields?.[0]?.path).toBe('body.idleTimeoutSeconds');
    const within = await t.call('POST', '/v1/sessions', { message: 'Please clean up the build cache', idleTimeoutSeconds: 30 });
    expect(within.status).toBe(201);
    await endSession(t, ((await within.json()) as { id: string }).id);
  });
});

describe('event streams', () => {
  it('refuses a stream beyond the limit with 429, and counts a closed one out', async () => {
    const t = await tenantWith({ sseStreams: 1 });
    const started = await startWaiting(t);
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    const first = await t.call('GET', `/v1/sessions/${id}/events`);
    expect(first.status).toBe(200);
    const reader = first.body?.getReader();
    await reader?.read(); // the stream is open and serving
    const second = await t.call('GET', `/v1/sessions/${id}/events`);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('5');
    expect(await errorOf(second)).toMatchObject({ code: 'too_many_streams' });
    await reader?.cancel();
    const third = await waitFor(async () => {
      const res = await t.call('GET', `/v1/sessions/${id}/events`);
      if (res.status === 200) return res;
      await res.body?.cancel();
      return undefined;
    }, 10_000, 'the closed stream to be counted out');
    await third.body?.cancel();
    await endSession(t, id);
  });
});

describe('sandboxes held', () => {
  it('makes a claim beyond the tenant cap wait until one of its sandboxes is released', async () => {
    const t = await tenantWith({ sandboxes: 1 });
    const sandboxClaimed = async (id: string) =>
      (await stack.db.selectFrom('session_events').select('type').where('session_id', '=', id).where('type', '=', 'sandbox.claimed').executeTakeFirst()) !== undefined;
    // The safe-shell scenario runs a command, answers, and (idleTimeoutSeconds) keeps its sandbox while it waits for more.
    const a = (await (await t.call('POST', '/v1/sessions', { message: 'say hello from the sandbox', idleTimeoutSeconds: 300 })).json()) as { id: string };
    await waitFor(() => sandboxClaimed(a.id), 60_000, 'the first session to hold a sandbox');
    const b = (await (await t.call('POST', '/v1/sessions', { message: 'say hello from the sandbox', idleTimeoutSeconds: 300 })).json()) as { id: string };
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await sandboxClaimed(b.id)).toBe(false);
    const leases = await stack.db.selectFrom('sandbox_leases').select('session_id').where('tenant_id', '=', t.id).execute();
    expect(leases.map((l) => l.session_id)).toEqual([a.id]);

    await endSession(t, a.id);
    await waitFor(() => sandboxClaimed(b.id), 30_000, 'the second session to get a sandbox once the first let go');
    await endSession(t, b.id);
    expect(await stack.db.selectFrom('sandbox_leases').select('session_id').where('tenant_id', '=', t.id).execute()).toEqual([]);
  });
});

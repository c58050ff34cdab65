/**
 * The API's contract at its edges: authentication, tenant isolation, zod
 * validation with field paths, body limits, pagination, health and metrics.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { json, startSession, waitForGate, waitForStatus, type SessionJson } from '../support/sessions.js';

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}

let stack: Stack;
let finished: SessionJson;

beforeAll(async () => {
  stack = await startStack(inject('services'), { env: { API_BODY_LIMIT_BYTES: '65536' } });
  finished = await startSession(stack, { message: 'hello there', metadata: { scenario: 'default' } });
  await waitForStatus(stack, finished.id);
});
afterAll(async () => {
  await stack?.close();
});

describe('authentication', () => {
  it('needs the tenant header and a bearer key of that tenant', async () => {
    const none = await stack.app.request('/v1/sessions');
    expect(none.status).toBe(401);
    expect(await json<ErrorJson>(none)).toMatchObject({ error: { code: 'unauthorized' } });

    const wrongKey = await stack.app.request('/v1/sessions', { headers: { 'x-tenant-id': stack.tenantId, authorization: 'Bearer kx_nope' } });
    expect(wrongKey.status).toBe(401);

    // mallory's key is valid, but for another tenant.
    const crossTenant = await stack.app.request('/v1/sessions', {
      headers: { 'x-tenant-id': stack.tenantId, authorization: `Bearer ${stack.keys.mallory}` },
    });
    expect(crossTenant.status).toBe(401);
  });

  it('stores keys only as hashes', async () => {
    const rows = await stack.db.selectFrom('api_keys').select(['key_hash']).where('tenant_id', '=', stack.tenantId).execute();
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(Object.values(stack.keys)).not.toContain(row.key_hash);
    }
  });
});

describe('tenant isolation', () => {
  it("another tenant can neither read nor signal a session: 404 everywhere", async () => {
    const id = finished.id;
    for (const [method, path, body] of [
      ['GET', `/v1/sessions/${id}`, undefined],
      ['GET', `/v1/sessions/${id}/events`, undefined],
      ['GET', `/v1/sessions/${id}/history`, undefined],
      ['POST', `/v1/sessions/${id}/messages`, { content: 'hi' }],
      ['POST', `/v1/sessions/${id}/approvals`, { gateId: 'gate-3', decision: 'approve' }],
      ['POST', `/v1/sessions/${id}/cancel`, {}],
    ] as const) {
      const res = await stack.api(method, path, 'mallory', body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await json<ErrorJson>(res)).toMatchObject({ error: { code: 'session_not_found' } });
    }
    const list = await json<{ data: unknown[] }>(await stack.api('GET', '/v1/sessions', 'mallory'));
    expect(list.data).toEqual([]);
  });
});

describe('validation', () => {
  it('answers 400 with a code and the path of every bad field', async () => {
    const res = await stack.api('POST', '/v1/sessions', 'alice', {
      message: '',
      agent: 'Bad Agent',
      limits: { maxSteps: 0, approvalTimeoutSeconds: 'soon' },
      metadata: { team: 7 },
      surprise: true,
    });
    expect(res.status).toBe(400);
    const body = await json<ErrorJson>(res);
    expect(body.error.code).toBe('validation_failed');
    const paths = body.error.fields?.map((f) => f.path) ?? [];
    expect(paths).toEqual(
      expect.arrayContaining([
        'body.message',
        'body.agent',
        'body.limits.maxSteps',
        'body.limits.approvalTimeoutSeconds',
        'body.metadata.team',
        'body.surprise',
      ]),
    );
    expect(body.error.fields?.find((f) => f.path === 'body.surprise')?.message).toBe('unknown field');
  });

  it('refuses a body that is not JSON, an unknown policy and a malformed id', async () => {
    const notJson = await stack.api('POST', '/v1/sessions', 'alice', '{"message": ', { 'content-type': 'application/json' });
    expect(notJson.status).toBe(400);
    expect(await json<ErrorJson>(notJson)).toMatchObject({ error: { code: 'invalid_json' } });

    const policy = await stack.api('POST', '/v1/sessions', 'alice', { message: 'x', policy: 'nope' });
    expect(policy.status).toBe(400);
    expect(await json<ErrorJson>(policy)).toMatchObject({ error: { code: 'unknown_policy', fields: [{ path: 'body.policy' }] } });

    const badId = await stack.api('GET', '/v1/sessions/not-an-id');
    expect(badId.status).toBe(400);
    expect(await json<ErrorJson>(badId)).toMatchObject({ error: { fields: [{ path: 'params.id' }] } });

    const unknown = await stack.api('GET', '/v1/sessions/ses_00000000-0000-0000-0000-000000000000');
    expect(unknown.status).toBe(404);
  });

  it('answers 413 for a body over the limit, and starts nothing', async () => {
    const before = await stack.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'x'.repeat(70_000) });
    expect(res.status).toBe(413);
    expect(await json<ErrorJson>(res)).toMatchObject({ error: { code: 'body_too_large' } });
    const after = await stack.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('an approval of a gate that does not exist is a 404 with the reason', async () => {
    const session = await startSession(stack, { message: 'delete the scratch file' });
    const gate = await waitForGate(stack, session.id);
    const res = await stack.api('POST', `/v1/sessions/${session.id}/approvals`, 'bob', { gateId: 'gate-999', decision: 'approve' });
    expect(res.status).toBe(404);
    expect(await json<ErrorJson>(res)).toMatchObject({ error: { code: 'gate_not_found' } });
    const bad = await stack.api('POST', `/v1/sessions/${session.id}/approvals`, 'bob', { gateId: gate.id, decision: 'maybe' });
    expect(bad.status).toBe(400);
    expect(await json<ErrorJson>(bad)).toMatchObject({ error: { fields: [{ path: 'body.decision' }] } });
    await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', {});
    await waitForStatus(stack, session.id);
    const closed = await stack.api('POST', `/v1/sessions/${session.id}/approvals`, 'bob', { gateId: gate.id, decision: 'approve' });
    expect(closed.status).toBe(409);
  });
});

describe('listing', () => {
  it('lists newest first, page by page, without repeats', async () => {
    const created: string[] = [];
    for (let i = 0; i < 3; i++) created.push((await startSession(stack, { message: `list ${i}`, metadata: { scenario: 'default' } })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/sessions?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page: { data: { id: string; createdAt: string }[]; nextCursor: string | null } = await json(await stack.api('GET', url));
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((s) => s.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 3)).toEqual([...created].reverse());
    expect(seen).toContain(finished.id);

    const bad = await stack.api('GET', '/v1/sessions?limit=1000');
    expect(bad.status).toBe(400);
    expect(await json<ErrorJson>(bad)).toMatchObject({ error: { fields: [{ path: 'query.limit' }] } });
  });
});

describe('health and metrics', () => {
  it('/healthz and /readyz answer, /metrics counts requests by route template', async () => {
    expect((await stack.app.request('/healthz')).status).toBe(200);
    const ready = await stack.app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await json(ready)).toMatchObject({ ready: true, dependencies: [{ name: 'temporal', ok: true }, { name: 'postgres', ok: true }, { name: 'docker', ok: true }] });

    const metrics = await (await stack.app.request('/metrics')).text();
    expect(metrics).toMatch(/http_requests_total\{[^}]*route="\/v1\/sessions\/:id"[^}]*\} \d+/);
    expect(metrics).not.toContain(finished.id);
  });

  it('/readyz is 503 and names the dependency that is down, and since when', async () => {
    const down = await startStack(inject('services'), {
      workers: false,
      readiness: { postgres: async () => 1, docker: async () => Promise.reject(new Error('connect ENOENT /var/run/docker.sock')) },
    });
    try {
      const first = await json<{ ready: boolean; dependencies: { name: string; ok: boolean; error?: string; failingSince?: string }[] }>(
        await down.app.request('/readyz'),
      );
      expect(first.ready).toBe(false);
      const docker = first.dependencies.find((d) => d.name === 'docker');
      expect(docker).toMatchObject({ ok: false, error: 'connect ENOENT /var/run/docker.sock' });
      const res = await down.app.request('/readyz');
      expect(res.status).toBe(503);
      const again = await json<typeof first>(res);
      expect(again.dependencies.find((d) => d.name === 'docker')?.failingSince).toBe(docker?.failingSince);
    } finally {
      await down.close();
    }
  });
});

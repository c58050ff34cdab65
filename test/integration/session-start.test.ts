/**
 * POST /v1/sessions without the round trips it used to spend (issue 16): the payload codec is told the new
 * session's tenant instead of looking the row up, the answer is the row as inserted, and the lookups asked
 * for at once still fail in the order they were checked one by one. Its answer says where its time went (Server-Timing).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { createApp } from '../../api/app.js';
import { EventNotifier } from '../../api/event-notifier.js';
import { getSessionRow } from '../../db/sessions-query.js';
import { parseServerTiming } from '../../api/server-timing.js';
import { ReadinessChecker } from '../../observability/health.js';
import { createLogger } from '../../observability/logger.js';
import { createMetrics } from '../../observability/metrics.js';
import { PolicyStore } from '../../policies/load.js';
import { temporalClient } from '../../temporal/client.js';
import { keyringFromConfig } from '../../temporal/codec/from-config.js';
import { TenantPayloadCodec } from '../../temporal/codec/payload-codec.js';
import { json, startSession, type SessionJson } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';

interface ErrorJson {
  error: { code: string; fields?: { path: string }[] };
}

let stack: Stack;
const started: string[] = [];

beforeAll(async () => {
  // No workers: these sessions are only started (and terminated after).
  stack = await startStack(inject('services'), { workers: false });
});
afterAll(async () => {
  for (const id of started) await stack?.temporal.workflow.getHandle(id).terminate('test done').catch(() => {});
  await stack?.close();
});

describe('POST /v1/sessions', () => {
  it('tells the codec the session’s tenant: a codec that cannot look it up still encrypts the start', async () => {
    // Fail closed, and nothing to look the tenant up with: only the route can have told it.
    const codec = new TenantPayloadCodec({ keyring: keyringFromConfig(stack.config), unknownTenant: 'reject' });
    const temporal: Client = temporalClient(stack.temporal.connection as Connection, stack.config.TEMPORAL_NAMESPACE, codec);
    const app = createApp({
      config: stack.config,
      db: stack.db,
      temporal,
      codec,
      policies: new PolicyStore(stack.config.POLICIES_DIR),
      notifier: new EventNotifier(stack.config.DATABASE_URL ?? ''),
      metrics: createMetrics({ service: 'api', defaultMetrics: false }),
      readiness: new ReadinessChecker({}),
      logger: createLogger({ level: 'error' }),
    });
    const res = await app.request('/v1/sessions', {
      method: 'POST',
      headers: { 'x-tenant-id': stack.tenantId, authorization: `Bearer ${stack.keys.alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'hello', metadata: { scenario: 'default' } }),
    });
    const body = await res.text();
    expect(res.status, body).toBe(201);
    const session = JSON.parse(body) as SessionJson;
    started.push(session.id);
    expect(await codec.tenants.tenantOf(session.id)).toBe(stack.tenantId);
  });

  it('answers the row as inserted', async () => {
    const session = await startSession(stack, { message: 'hello', metadata: { scenario: 'default', k: 'v' } });
    started.push(session.id);
    const row = await getSessionRow(stack.db, stack.tenantId, session.id);
    expect(row).toBeDefined();
    expect(session).toMatchObject({
      id: row?.id,
      tenantId: stack.tenantId,
      requester: 'alice',
      status: 'running',
      policy: { name: row?.policy_name, hash: row?.policy_hash },
      metadata: { scenario: 'default', k: 'v' },
      createdAt: row?.created_at.toISOString(),
      updatedAt: row?.updated_at.toISOString(),
      endedAt: null,
    });
  });

  it('says in Server-Timing how long each stage took: auth, lookups, admit, start, then total', async () => {
    const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'hello', metadata: { scenario: 'default' } });
    expect(res.status).toBe(201);
    started.push((await json<SessionJson>(res)).id);
    const stages = parseServerTiming(res.headers.get('server-timing'));
    expect(Object.keys(stages)).toEqual(['auth', 'lookups', 'admit', 'start', 'total']);
    const { total = 0, ...parts } = stages;
    // Each a duration (the admission and the start are round trips: more than nothing), together within the total.
    for (const ms of Object.values(parts)) expect(ms).toBeGreaterThanOrEqual(0);
    expect(parts.admit).toBeGreaterThan(0);
    expect(parts.start).toBeGreaterThan(0);
    expect(Object.values(parts).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total + 0.1 * Object.keys(parts).length);
  });

  it('fails on the first check that fails, though the later lookups were already asked', async () => {
    const unknownSource = `ses_${randomUUID()}`;
    const post = (body: Record<string, unknown>) => stack.api('POST', '/v1/sessions', 'alice', { message: 'hello', fromSession: unknownSource, ...body });

    // The agent is checked first, then the policy, then the workspace to start from.
    const agent = await post({ agent: 'nobody@v1' });
    expect(agent.status).toBe(404);
    expect((await json<ErrorJson>(agent)).error.code).toBe('agent_not_found');

    const policy = await post({ policy: 'no-such-policy' });
    expect(policy.status).toBe(400);
    expect((await json<ErrorJson>(policy)).error.code).toBe('unknown_policy');

    const source = await post({});
    expect(source.status).toBe(400);
    expect(await json<ErrorJson>(source)).toMatchObject({ error: { code: 'unknown_from_session', fields: [{ path: 'body.fromSession' }] } });
  });
});

/**
 * POST /v1/sessions without the round trips it used to spend (issue 16): the payload codec is told the new
 * session's tenant instead of looking the row up, the answer is the row as inserted, and the lookups asked
 * for at once still fail in the order they were checked one by one. Its answer says where its time went (Server-Timing).
 *
 * It answers before Temporal has the workflow: the start is written to the outbox with the row and made after
 * (api/session-starter.ts). These tests hold or fail that start to show what a client sees meanwhile, what
 * happens to a start whose process stopped, and to one Temporal will not take.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WorkflowNotFoundError, type Client, type Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { SessionStarter, startSessionWorkflow } from '../../api/session-starter.js';
import { getSessionStart, insertSessionStart, pendingSessionStarts } from '../../db/session-starts.js';
import { taskQueues } from '../../domain/temporal-names.js';
import { openInput, sealInput } from '../../temporal/codec/sealed-input.js';
import { userMessageSignal, type AgentSessionInput } from '../../workflows/definitions.js';
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
import { eventsOfType, getSession, json, startSession, waitForWorkflow, type SessionJson } from '../support/sessions.js';
import { waitFor } from '../support/stack.js';
import { startStack, type Stack } from '../support/stack.js';

const { EventType } = proto.temporal.api.enums.v1;

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

/** Another API over the stack's database and Temporal: its own client, codec and (by default, createApp's) starter. */
function apiWith(temporal: Client, codec: TenantPayloadCodec, starter?: SessionStarter) {
  return createApp({
    config: stack.config,
    db: stack.db,
    temporal,
    codec,
    starter,
    policies: new PolicyStore(stack.config.POLICIES_DIR),
    notifier: new EventNotifier(stack.config.DATABASE_URL ?? ''),
    metrics: createMetrics({ service: 'api', defaultMetrics: false }),
    readiness: new ReadinessChecker({}),
    logger: createLogger({ level: 'error' }),
  });
}

describe('POST /v1/sessions', () => {
  it('tells the codec the session’s tenant: a codec that cannot look it up still encrypts the start', async () => {
    // Fail closed, and nothing to look the tenant up with: only the route can have told it.
    const codec = new TenantPayloadCodec({ keyring: keyringFromConfig(stack.config), unknownTenant: 'reject' });
    const temporal: Client = temporalClient(stack.temporal.connection as Connection, stack.config.TEMPORAL_NAMESPACE, codec);
    const app = apiWith(temporal, codec);
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

  it('says in Server-Timing how long each stage took: auth, lookups, admit, then total', async () => {
    const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'hello', metadata: { scenario: 'default' } });
    expect(res.status).toBe(201);
    started.push((await json<SessionJson>(res)).id);
    const stages = parseServerTiming(res.headers.get('server-timing'));
    // No `start`: the workflow start is made after the answer.
    expect(Object.keys(stages)).toEqual(['auth', 'lookups', 'admit', 'total']);
    const { total = 0, ...parts } = stages;
    // Each a duration (the admission and the start are round trips: more than nothing), together within the total.
    for (const ms of Object.values(parts)) expect(ms).toBeGreaterThanOrEqual(0);
    expect(parts.admit).toBeGreaterThan(0);
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

describe('POST /v1/sessions: the workflow start after the answer', () => {
  const codec = () => new TenantPayloadCodec({ keyring: keyringFromConfig(stack.config), unknownTenant: 'reject' });
  const queue = () => taskQueues(stack.config.TASK_QUEUE_PREFIX).sessions;
  const releases: (() => void)[] = [];
  const starters: SessionStarter[] = [];

  afterAll(async () => {
    for (const release of releases) release();
    await Promise.all(starters.map((s) => s.drain()));
  });

  /** A starter of its own (another API process) whose call to Temporal waits until released, or fails with `fail`. */
  function process(options: { hold?: boolean; fail?: Error; deadlineMs?: number } = {}) {
    const own = codec();
    const temporal = temporalClient(stack.temporal.connection as Connection, stack.config.TEMPORAL_NAMESPACE, own);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    if (!options.hold) release();
    releases.push(release);
    const starter = new SessionStarter({
      db: stack.db,
      temporal,
      sessionsQueue: queue(),
      codec: own,
      deadlineMs: options.deadlineMs,
      start: async (input) => {
        await held;
        if (options.fail) throw options.fail;
        return startSessionWorkflow(temporal, queue(), input);
      },
    });
    starters.push(starter);
    const app = apiWith(temporal, own, starter);
    const request = (method: string, path: string, body: unknown) =>
      app.request(path, {
        method,
        headers: { 'x-tenant-id': stack.tenantId, authorization: `Bearer ${stack.keys.alice}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const post = async (body: Record<string, unknown>) => {
      const res = await request('POST', '/v1/sessions', body);
      const text = await res.text();
      expect(res.status, text).toBe(201);
      const session = JSON.parse(text) as SessionJson;
      started.push(session.id);
      return session;
    };
    return { starter, release, post, request, codec: own };
  }

  const notStarted = (id: string) => expect(stack.temporal.workflow.getHandle(id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  const startRow = (id: string) => getSessionStart(stack.db, stack.tenantId, id);
  const runsOf = async (id: string) => {
    let n = 0;
    for await (const _ of stack.temporal.workflow.list({ query: `WorkflowId = '${id}'` })) n++;
    return n;
  };
  /** As if the lease of the process that wrote the start ran out. */
  const leaseOver = (id: string) =>
    stack.db.updateTable('session_starts').set({ next_attempt_at: new Date(Date.now() - 1_000) }).where('session_id', '=', id).execute();

  it('answers before Temporal has the workflow; the start, sealed in the outbox, goes through after', async () => {
    const a = process({ hold: true });
    const session = await a.post({ message: 'the vault code is 7731-4452', metadata: { scenario: 'default' } });
    expect(session.status).toBe('running');
    await notStarted(session.id);
    const row = await startRow(session.id);
    expect(row).toBeDefined();
    // Encrypted for the tenant as Temporal would hold it: the message is not readable in Postgres.
    expect(Buffer.from(row?.input ?? []).includes('7731-4452')).toBe(false);
    expect(await openInput<AgentSessionInput>(a.codec, row?.input ?? new Uint8Array())).toMatchObject({ message: 'the vault code is 7731-4452' });
    // A look at the session meanwhile answers from Postgres.
    expect((await getSession(stack, session.id)).status).toBe('running');
    // The API's scrape-time gauges see it waiting (session_starts_pending, session_start_oldest_pending_seconds).
    await new Promise((r) => setTimeout(r, 50));
    const pending = await pendingSessionStarts(stack.db);
    expect(pending.count).toBeGreaterThanOrEqual(1);
    expect(pending.oldestSeconds).toBeGreaterThan(0.04);

    a.release();
    await waitForWorkflow(stack.temporal, session.id);
    await waitFor(async () => (await startRow(session.id)) === undefined, 10_000, 'the start row to go');
    expect(await runsOf(session.id)).toBe(1);
  });

  it('a message or a history read before the start makes the start itself; one run, and the late start learns it', async () => {
    const a = process({ hold: true });
    const session = await a.post({ message: 'hello', metadata: { scenario: 'default' } });
    await notStarted(session.id);
    // Another tenant cannot reach it, and does not start it.
    expect((await stack.api('POST', `/v1/sessions/${session.id}/messages`, 'mallory', { content: 'mine now' })).status).toBe(404);
    await notStarted(session.id);

    // The stack's API (another process, its own starter) takes the message: it starts the workflow, then signals.
    const sent = await stack.api('POST', `/v1/sessions/${session.id}/messages`, 'alice', { content: 'and one more thing' });
    expect(sent.status, await sent.clone().text()).toBe(202);
    const history = await stack.temporal.workflow.getHandle(session.id).fetchHistory();
    const signals = (history.events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    expect(signals.map((e) => e.workflowExecutionSignaledEventAttributes?.signalName)).toEqual([userMessageSignal.name]);
    expect(await startRow(session.id)).toBeUndefined();

    // The held start goes on now: Temporal says "already started", and no second run is made.
    a.release();
    await a.starter.drain();
    expect(await runsOf(session.id)).toBe(1);

    const b = process({ hold: true });
    const other = await b.post({ message: 'hello', metadata: { scenario: 'default' } });
    const page = await stack.api('GET', `/v1/sessions/${other.id}/history?limit=5`, 'alice');
    expect(page.status, await page.clone().text()).toBe(200);
    expect((await json<{ events: { eventType: string }[] }>(page)).events[0]?.eventType).toMatch(/WORKFLOW_EXECUTION_STARTED/);
  });

  it('a start whose process stopped is swept by another, once its lease ran out', async () => {
    const a = process({ hold: true });
    const session = await a.post({ message: 'hello', metadata: { scenario: 'default' } });
    const b = process();
    // Within the lease: not taken.
    await b.starter.sweep();
    await notStarted(session.id);
    await leaseOver(session.id);
    expect(await b.starter.sweep()).toBeGreaterThanOrEqual(1);
    await waitForWorkflow(stack.temporal, session.id);
    expect(await startRow(session.id)).toBeUndefined();
  });

  it('a start left behind after its workflow ended never makes a second run', async () => {
    const a = process();
    const session = await a.post({ message: 'hello', metadata: { scenario: 'default' } });
    await waitForWorkflow(stack.temporal, session.id);
    await stack.temporal.workflow.getHandle(session.id).terminate('ended');
    // As if the process stopped between Temporal's answer and the row's delete.
    const input = await inputOf(a.codec, session.id);
    await insertSessionStart(stack.db, { sessionId: session.id, tenantId: stack.tenantId, input: sealInput(a.codec, stack.tenantId, input), leaseMs: -1_000 });
    await process().starter.sweep();
    expect(await startRow(session.id)).toBeUndefined();
    expect(await runsOf(session.id)).toBe(1);
    expect((await stack.temporal.workflow.getHandle(session.id).describe()).status.name).toBe('TERMINATED');
  });

  it('a start Temporal does not take is retried, then fails the session after SESSION_START_DEADLINE, saying why', async () => {
    const a = process({ fail: new Error('14 UNAVAILABLE: connection refused (test)'), deadlineMs: 1_500 });
    const session = await a.post({ message: 'hello', metadata: { scenario: 'default' } });
    const tried = await waitFor(async () => {
      const row = await startRow(session.id);
      return row && row.attempts === 1 ? row : undefined;
    }, 10_000, 'a failed try');
    expect(tried.lastError).toContain('connection refused (test)');
    expect((await getSession(stack, session.id)).status).toBe('running');
    // A message meanwhile says the session is not started yet (not that it ended), and leaves the start to its backoff.
    const message = await a.request('POST', `/v1/sessions/${session.id}/messages`, { content: 'still there?' });
    expect(message.status).toBe(503);
    expect(await json<ErrorJson>(message)).toMatchObject({ error: { code: 'session_not_started' } });
    expect((await startRow(session.id))?.attempts).toBe(1);

    // Past the deadline one more failed try is not enough: it is given up at the third.
    await new Promise((r) => setTimeout(r, 1_600));
    await leaseOver(session.id);
    await a.starter.sweep();
    expect((await startRow(session.id))?.attempts).toBe(2);
    expect((await getSession(stack, session.id)).status).toBe('running');
    await leaseOver(session.id);
    await a.starter.sweep();
    const failed = await getSession(stack, session.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/could not start: Temporal did not accept its start within 2 s \(3 tries\): .*connection refused \(test\)/);
    expect(await startRow(session.id)).toBeUndefined();
    await notStarted(session.id);
    // The end is an event too: the stream and the console see it.
    const ended = await eventsOfType(stack, session.id, 'session.ended');
    expect(ended).toEqual([expect.objectContaining({ status: 'failed', error: failed.error })]);
  });

  it('a try that fails after Temporal took the start (its answer lost) is not a failed session', async () => {
    const lost = Object.assign(new Error('Failed to start Workflow'), { cause: Object.assign(new Error('3 INVALID_ARGUMENT: answer lost (test)'), { code: 3 }) });
    const own = codec();
    const temporal = temporalClient(stack.temporal.connection as Connection, stack.config.TEMPORAL_NAMESPACE, own);
    const starter = new SessionStarter({
      db: stack.db,
      temporal,
      sessionsQueue: queue(),
      codec: own,
      start: async (input) => {
        await startSessionWorkflow(temporal, queue(), input);
        throw lost;
      },
    });
    starters.push(starter);
    // Written by a process that stops before starting it; this starter's try starts it, then hears an error.
    const session = await process({ hold: true }).post({ message: 'hello', metadata: { scenario: 'default' } });
    await leaseOver(session.id);
    await starter.sweep();
    await waitForWorkflow(stack.temporal, session.id);
    expect(await startRow(session.id)).toBeUndefined();
    expect((await getSession(stack, session.id)).status).toBe('running');
    expect(await eventsOfType(stack, session.id, 'session.ended')).toEqual([]);
  });

  it('a stored start that no longer opens fails its session at once, without retries', async () => {
    const a = process({ hold: true });
    const session = await a.post({ message: 'hello', metadata: { scenario: 'default' } });
    const row = await startRow(session.id);
    const tampered = Buffer.from(row?.input ?? []);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0xff;
    await stack.db.updateTable('session_starts').set({ input: tampered, next_attempt_at: new Date(Date.now() - 1_000) }).where('session_id', '=', session.id).execute();
    await process().starter.sweep();
    const failed = await getSession(stack, session.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/^could not start: /);
    expect(await startRow(session.id)).toBeUndefined();
    await notStarted(session.id);
  });

  /** The input Temporal holds for a started session, opened with the tenant's keys. */
  async function inputOf(own: TenantPayloadCodec, id: string): Promise<AgentSessionInput> {
    const history = await stack.temporal.workflow.getHandle(id).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!payload) throw new Error('no start input');
    const [opened] = await own.decode([payload as Payload]);
    return defaultPayloadConverter.fromPayload<AgentSessionInput>(opened ?? (payload as Payload));
  }
});

/**
 * One session end to end on real Temporal, Postgres and Docker: the README's
 * walk-through (a high-risk command, two approvers, the command in a
 * container, the final answer), and each way a session ends.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { monthStart, partitionName } from '../../db/partitions.js';
import { createSessionActivities } from '../../activities/session-activities.js';
import type { LlmStepResult } from '../../activities/types.js';
import { eventsAfterQuery } from '../../db/session-records.js';
import { ModelRouter } from '../../router/router.js';
import { stateQuery } from '../../workflows/definitions.js';
import { pricedPolicy } from '../support/router-fixtures.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import {
  containersOf,
  getSession,
  json,
  readAllEvents,
  startSession,
  toolResults,
  vote,
  waitForClosed,
  waitForGate,
  waitForStatus,
  type SessionJson,
} from '../support/sessions.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack(inject('services'));
});
afterAll(async () => {
  await stack?.close();
});

describe('the walk-through: a high-risk command approved by two people', () => {
  let session: SessionJson;

  it('waits on a gate that needs two approvers', async () => {
    session = await startSession(stack, { message: 'Please clean up the build cache' });
    expect(session.id).toMatch(/^ses_/);
    expect(session.links.temporalUi).toContain(`/workflows/${session.id}`);
    const gate = await waitForGate(stack, session.id);
    expect(gate).toMatchObject({ tool: 'shell', risk: 'high', required: 2, requester: 'alice', status: 'open' });
    expect(String(gate.arguments.command)).toContain('rm -rf /workspace/.cache');
    // GET reads Postgres (the row, the events, the gates): it says what the workflow itself says.
    const read = await getSession(stack, session.id);
    const live = await stack.temporal.workflow.getHandle(session.id).query(stateQuery);
    expect(read.status).toBe('waiting_approval');
    expect({ status: read.status, step: read.step, usage: read.usage, pendingApprovals: read.pendingApprovals }).toEqual({
      status: live.status,
      step: live.step,
      usage: live.usage,
      pendingApprovals: live.pendingApprovals,
    });
    expect(read.usage.llmCalls).toBe(1);
    expect(read.usage.inputTokens).toBeGreaterThan(0);
    // The list shows a running session's usage so far too (its row gets it at the end).
    const listed = await json<{ data: SessionJson[] }>(await stack.api('GET', '/v1/sessions?status=waiting_approval&limit=100'));
    expect(listed.data.find((s) => s.id === session.id)?.usage).toEqual(live.usage);
    // Nothing ran yet: no sandbox was claimed for a call that waits.
    expect(await containersOf(stack, session.id)).toHaveLength(0);
  });

  it('refuses the requester, ignores a repeated approval, runs after the second approver', async () => {
    const gate = (await getSession(stack, session.id)).pendingApprovals[0];
    if (!gate) throw new Error('no gate');

    const byRequester = await vote(stack, session.id, gate.id, 'alice');
    expect(byRequester.status).toBe(403);
    expect(await json<{ error: { code: string } }>(byRequester)).toMatchObject({ error: { code: 'requester_cannot_approve' } });

    const first = await vote(stack, session.id, gate.id, 'bob');
    expect(first.status).toBe(200);
    expect(await json(first)).toMatchObject({ counted: true, gate: { status: 'open', approvals: [{ approver: 'bob', channel: 'api' }] } });

    const again = await vote(stack, session.id, gate.id, 'bob');
    expect(await json(again)).toMatchObject({ counted: false, gate: { status: 'open' } });

    const second = await vote(stack, session.id, gate.id, 'carol');
    expect(await json(second)).toMatchObject({ counted: true, gate: { status: 'approved' } });

    const late = await vote(stack, session.id, gate.id, 'carol');
    expect(late.status).toBe(409);
    expect(await json(late)).toMatchObject({ error: { code: 'gate_closed' } });

    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toMatch(/^Done\. The sandbox said: cache cleared at \d{4}-\d\d-\d\dT/);
    expect(done.usage).toMatchObject({ llmCalls: 2, toolCalls: 1 });
  });

  it('streams every event in order, and the container is gone', async () => {
    const events = await readAllEvents(stack, session.id);
    const types = events.map((e) => e.type);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(types[0]).toBe('session.started');
    expect(types.at(-1)).toBe('session.ended');
    const order = ['approval.requested', 'approval.resolved', 'sandbox.claimed', 'tool.started', 'tool.result', 'sandbox.released', 'session.ended'];
    const positions = order.map((t) => types.indexOf(t));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(events.filter((e) => e.type === 'approval.vote').map((e) => [e.data.approver, e.data.counted])).toEqual([
      ['bob', true],
      ['bob', false],
      ['carol', true],
    ]);
    const result = events.find((e) => e.type === 'tool.result');
    expect(result?.data).toMatchObject({ ran: true, ok: true, exitCode: 0 });
    expect(await containersOf(stack, session.id)).toHaveLength(0);
  });

  it("reads the stream from the session's own monthly partition only", async () => {
    const row = await stack.db.selectFrom('sessions').select(['created_at', 'tenant_id']).where('id', '=', session.id).executeTakeFirstOrThrow();
    const partitions = await sql<{ name: string }>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'session_events'::regclass`.execute(stack.db);
    // The default partition and the months made ahead by the maintenance run: a plan without the key reads them all.
    expect(partitions.rows.length).toBeGreaterThanOrEqual(2);
    const plan = (await eventsAfterQuery(stack.db, row.tenant_id, session.id, row.created_at, 0).explain())
      .map((r) => Object.values(r).join(' '))
      .join('\n');
    const scanned = [...new Set(plan.match(/session_events_\w+/g) ?? [])].filter((n) => partitions.rows.some((p) => p.name === n));
    expect(scanned).toHaveLength(1);
    const own = partitionName('session_events', monthStart(row.created_at.getUTCFullYear(), row.created_at.getUTCMonth()));
    expect([own, 'session_events_default']).toContain(scanned[0]);
  });

  it('resumes a stream from Last-Event-ID without losing or repeating events', async () => {
    const all = await readAllEvents(stack, session.id);
    const rest = await readAllEvents(stack, session.id, 5);
    expect(rest.map((e) => e.id)).toEqual(all.slice(5).map((e) => e.id));
    const none = await readAllEvents(stack, session.id, all.length);
    expect(none).toEqual([]);
  });

  it('shows the same session in the Temporal history, over the API and in `temporal workflow show`', async () => {
    expect(await waitForClosed(stack, session.id)).toBe('COMPLETED');
    const res = await stack.api('GET', `/v1/sessions/${session.id}/history`);
    expect(res.status).toBe(200);
    const history = await json<{ events: { eventType: string }[] }>(res);
    const types = history.events.map((e) => e.eventType);
    expect(types[0]).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    expect(types).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED');
    expect(types.at(-1)).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');

    const services = inject('services');
    const shown = execFileSync(
      services.temporalCli,
      ['workflow', 'show', '--workflow-id', session.id, '--address', services.temporalAddress, '--output', 'json'],
      { encoding: 'utf8' },
    );
    const cliEvents = (JSON.parse(shown) as { events: unknown[] }).events;
    expect(cliEvents).toHaveLength(history.events.length);
  });

  it('keeps the transcript in Postgres, not in the history', async () => {
    const rows = await stack.db.selectFrom('messages').select(['seq', 'role']).where('session_id', '=', session.id).orderBy('seq').execute();
    expect(rows.map((r) => r.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant']);
    const results = await toolResults(stack, session.id);
    expect(results[0]).toMatchObject({ ok: true, exit_code: 0, truncated: false });
  });
});

describe('gates that do not open', () => {
  it('a reject denies the call, and the model sees the denial', async () => {
    const session = await startSession(stack, { message: 'delete the scratch file' });
    const gate = await waitForGate(stack, session.id);
    expect((await vote(stack, session.id, gate.id, 'carol', 'reject')).status).toBe(200);
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toContain('rejected by carol');
    expect((await toolResults(stack, session.id))[0]).toMatchObject({ ok: false, denied: true, gate: gate.id });
    expect(await containersOf(stack, session.id)).toHaveLength(0);
  });

  it('a timeout denies the call', async () => {
    const session = await startSession(stack, { message: 'delete the scratch file', limits: { approvalTimeoutSeconds: 2 } });
    const gate = await waitForGate(stack, session.id);
    expect((await vote(stack, session.id, gate.id, 'bob')).status).toBe(200);
    const done = await waitForStatus(stack, session.id);
    expect(done.finalAnswer).toContain('not approved within 2 s (1 of 2 approvals)');
    const events = await readAllEvents(stack, session.id);
    expect(events.find((e) => e.type === 'approval.resolved')?.data).toMatchObject({ outcome: 'timed_out', approvers: ['bob'] });
  });
});

describe('tools the policy allows', () => {
  it('runs a safe command at once, as uid 1000 in /workspace', async () => {
    const session = await startSession(stack, { message: 'say hello from the sandbox' });
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe('The sandbox answered: hello from sandbox in /workspace\n');
  });

  it('a malformed tool call and an unknown tool are errors the model sees; the session goes on', async () => {
    const session = await startSession(stack, { message: 'anything', metadata: { scenario: 'malformed-tool-call' } });
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('completed');
    const results = await toolResults(stack, session.id);
    expect(results[0]).toMatchObject({ ok: false });
    expect(String(results[0]?.error)).toContain('not valid JSON');
    expect(String(results[1]?.error)).toContain('unknown tool "teleport"');
    expect(done.finalAnswer).toContain('unknown tool');
  });
});

describe('limits, messages and cancel', () => {
  it('stops at max steps', async () => {
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step' }, limits: { maxSteps: 2 } });
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('max_steps');
    expect(done.step).toBe(2);
    expect(done.error).toContain('limit 2');
    expect(await containersOf(stack, session.id)).toHaveLength(0);
  });

  it('takes follow-up messages while it waits for them', async () => {
    const session = await startSession(stack, { message: 'first question', idleTimeoutSeconds: 30, metadata: { scenario: 'default' } });
    await waitFor(async () => (await getSession(stack, session.id)).usage.llmCalls === 1);
    const res = await stack.api('POST', `/v1/sessions/${session.id}/messages`, 'alice', { content: 'second question' });
    expect(res.status).toBe(202);
    await waitFor(async () => (await getSession(stack, session.id)).usage.llmCalls === 2);
    expect((await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', { reason: 'done' })).status).toBe(202);
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('cancelled');
    const rows = await stack.db.selectFrom('messages').select(['role', 'content']).where('session_id', '=', session.id).orderBy('seq').execute();
    expect(rows.filter((r) => r.role === 'assistant').map((r) => r.content)).toEqual(['You said: first question', 'You said: second question']);
  });

  it('a cancel while a gate is open closes the gate and releases the sandbox', async () => {
    const session = await startSession(stack, { message: 'say hello from the sandbox', metadata: { scenario: 'walkthrough' } });
    await waitForGate(stack, session.id);
    expect((await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'bob', { reason: 'not today' })).status).toBe(202);
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBe('cancelled by bob: not today');
    const events = await readAllEvents(stack, session.id);
    expect(events.find((e) => e.type === 'approval.resolved')?.data).toMatchObject({ outcome: 'cancelled' });
    expect((await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'bob', {})).status).toBe(409);
  });
});

describe('the session row has one writer', () => {
  it("the workflow's startSession writes into the row the API made and never makes one", async () => {
    const activities = createSessionActivities({ db: stack.db, router: new ModelRouter({ policy: pricedPolicy('http://127.0.0.1:9'), env: {}, timeoutMs: 1_000 }) });
    const session = { tenantId: stack.tenantId, sessionId: `ses_${randomUUID()}`, createdAt: new Date().toISOString() };
    const input = {
      session,
      agent: 'default',
      requester: 'alice',
      policyName: 'standard',
      policyHash: 'h',
      model: null,
      metadata: {},
      systemPrompt: 'system',
      userMessage: 'hello',
    };
    // As if started by another path than POST /v1/sessions: no row, and none is made.
    const refused = await activities.startSession(input).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused).toMatchObject({ type: 'SessionNotFoundError', nonRetryable: true });
    expect(await stack.db.selectFrom('sessions').select('id').where('id', '=', session.sessionId).executeTakeFirst()).toBeUndefined();

    // The API's row (createSessionRow) is the one startSession fills, as many times as it is retried.
    const started = await startSession(stack, { message: 'hello there', metadata: { scenario: 'default' } });
    const row = await stack.db.selectFrom('sessions').selectAll().where('id', '=', started.id).executeTakeFirstOrThrow();
    const again = { ...input, session: { tenantId: row.tenant_id, sessionId: row.id, createdAt: row.created_at.toISOString() }, agent: 'other' };
    expect(await activities.startSession(again)).toEqual({ nextMessageSeq: 2 });
    const after = await stack.db.selectFrom('sessions').select(['agent', 'requester']).where('id', '=', started.id).executeTakeFirstOrThrow();
    expect(after).toEqual({ agent: row.agent, requester: row.requester });
    const firstEvents = (await readAllEvents(stack, started.id)).filter((e) => e.type === 'session.started');
    expect(firstEvents).toHaveLength(1);
  });
});

describe('two runs of one model call at once', () => {
  // A worker slow but not dead: the call runs again elsewhere (a heartbeat or workflow-task timeout) while the
  // first run still goes on. The transcript keeps the answer stored first; both runs must return that one.
  it('both return the answer stored first, which the transcript holds', async () => {
    const started = await startSession(stack, { message: 'hello', metadata: { scenario: 'default' } });
    await waitForStatus(stack, started.id);
    const row = await stack.db.selectFrom('sessions').selectAll().where('id', '=', started.id).executeTakeFirstOrThrow();
    const session = { tenantId: row.tenant_id, sessionId: row.id, createdAt: row.created_at.toISOString() };
    const answer = (content: string) => ({
      content,
      toolCalls: [{ id: `call-${content}`, name: 'shell', arguments: { command: `echo ${content}` } }],
      model: 'fake',
      provider: 'fake',
      usage: { inputTokens: 1, outputTokens: 1 },
      costUsd: 0,
      latencyMs: 1,
      route: 'fake',
      cacheHit: false,
      fallbackUsed: false,
      downgradedFrom: null,
    });
    let called!: () => void;
    const firstCalled = new Promise<void>((ok) => (called = ok));
    let release!: () => void;
    const released = new Promise<void>((ok) => (release = ok));
    const slow = { complete: async () => (called(), await released, answer('slow')) } as unknown as ModelRouter;
    const fast = { complete: async () => answer('fast') } as unknown as ModelRouter;
    const input = { session, messageSeq: 10, step: 5, model: undefined, requestType: undefined, tools: [], metadata: {} };
    const run = (router: ModelRouter): Promise<LlmStepResult> => new MockActivityEnvironment().run(createSessionActivities({ db: stack.db, router }).llmStep, input);
    const first = run(slow);
    await firstCalled;
    const second = await run(fast);
    release();
    const late = await first;
    expect(second.content).toBe('fast');
    expect(late.content).toBe('fast');
    expect(late.toolCalls).toEqual([{ id: 'call-fast', name: 'shell', arguments: { command: 'echo fast' } }]);
    const stored = await stack.db.selectFrom('messages').select('content').where('session_id', '=', session.sessionId).where('seq', '=', 10).execute();
    expect(stored).toEqual([{ content: 'fast' }]);
    // A retry after both (its worker died after the write): the stored answer, with its usage, and no model call.
    const unreachable = { complete: () => Promise.reject(new Error('the model was called again')) } as unknown as ModelRouter;
    const retried = await run(unreachable);
    expect(retried).toMatchObject({ content: 'fast', model: 'fake', provider: 'fake', inputTokens: 1, outputTokens: 1 });
    expect(retried.toolCalls).toEqual(late.toolCalls);
  });
});

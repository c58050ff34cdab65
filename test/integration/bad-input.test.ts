/**
 * Bad input must not wedge a session, on real Temporal, Postgres and Docker:
 * the API refuses what it cannot store as sent (naming the field), model and
 * tool output with NUL bytes and lone surrogates is stored and the session
 * completes, a write that can never succeed fails the session saying why, and
 * a cancel ends a session whatever it waits on. Writes are made to fail on
 * purpose by a trigger that reads the session's metadata `refuse`.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NUL_REPLACEMENT, SURROGATE_REPLACEMENT } from '../../db/storable.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { containersOf, getSession, json, readAllEvents, startSession, toolResults, waitForStatus } from '../support/sessions.js';

let stack: Stack;

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}

beforeAll(async () => {
  stack = await startStack(inject('services'));
  // Refuses writes of sessions whose metadata asks for it: permanently (check_violation, class 23) or
  // transiently (serialization_failure, class 40). This run's database is its own (services.ts).
  await sql`
    create or replace function test_refuse_writes() returns trigger language plpgsql as $$
    declare how text;
    begin
      select metadata->>'refuse' into how from sessions where id = new.session_id;
      if how is null then return new; end if;
      if tg_table_name = 'messages' then
        if how = 'first-message' and new.role = 'user' then
          raise exception 'test: try again later' using errcode = 'serialization_failure';
        elsif how = 'second-answer' and new.role = 'assistant' and new.seq > 2 then
          raise exception 'test: this answer is refused' using errcode = 'check_violation';
        elsif how = 'tool-result' and new.role = 'tool' then
          raise exception 'test: this tool result is refused' using errcode = 'check_violation';
        end if;
      elsif how = 'decision-event' and new.type = 'tool.decision' then
        raise exception 'test: this event is refused' using errcode = 'check_violation';
      elsif how = 'ended-event' and new.type = 'session.ended' then
        raise exception 'test: the end is refused' using errcode = 'check_violation';
      end if;
      return new;
    end $$`.execute(stack.db);
  await sql`create trigger test_refuse_messages before insert on messages for each row execute function test_refuse_writes()`.execute(stack.db);
  await sql`create trigger test_refuse_events before insert on session_events for each row execute function test_refuse_writes()`.execute(stack.db);
});

afterAll(async () => {
  if (stack) {
    await sql`drop trigger if exists test_refuse_messages on messages`.execute(stack.db);
    await sql`drop trigger if exists test_refuse_events on session_events`.execute(stack.db);
  }
  await stack?.close();
});

async function sessionCount(): Promise<number> {
  const row = await stack.db.selectFrom('sessions').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', '=', stack.tenantId).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The raw JSON a client sends: `\u0000` and `\ud800` escapes, which JSON.parse turns into NUL and a lone surrogate. */
const NUL_ESCAPE = '\\u0000';
const LONE_ESCAPE = '\\ud800';

describe('the API refuses text it cannot store as sent, naming the field', () => {
  it.each([
    ['a NUL in the message', `{"message":"nul ${NUL_ESCAPE} here"}`, 'body.message', /NUL/],
    ['a lone surrogate in the message', `{"message":"lone surrogate ${LONE_ESCAPE}"}`, 'body.message', /unpaired/],
    ['a NUL in the system prompt', `{"message":"hi","systemPrompt":"be ${NUL_ESCAPE} nice"}`, 'body.systemPrompt', /NUL/],
    ['a lone surrogate in a metadata value', `{"message":"hi","metadata":{"team":"x${LONE_ESCAPE}"}}`, 'body.metadata.team', /unpaired/],
  ])('%s: 400, and no session', async (_what, body, path, message) => {
    const before = await sessionCount();
    const res = await stack.api('POST', '/v1/sessions', 'alice', body);
    expect(res.status).toBe(400);
    const err = await json<ErrorJson>(res);
    expect(err.error.code).toBe('validation_failed');
    expect(err.error.fields).toEqual([{ path, message: expect.stringMatching(message) as string }]);
    expect(await sessionCount()).toBe(before);
  });

  it('an unknown model: 400 at the door, naming the field and the known models, and no session', async () => {
    const before = await sessionCount();
    const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'hi', model: 'no-such-model' });
    expect(res.status).toBe(400);
    const err = await json<ErrorJson>(res);
    expect(err.error).toMatchObject({ code: 'unknown_model', fields: [{ path: 'body.model', message: 'unknown model' }] });
    expect(err.error.message).toContain('known: ');
    expect(err.error.message).toContain('mock');
    expect(await sessionCount()).toBe(before);
    // A model of the policy is accepted.
    expect((await startSession(stack, { message: 'hi', model: 'mock' })).id).toMatch(/^ses_/);
  });

  it('a follow-up message and a cancel reason are checked the same way', async () => {
    const session = await startSession(stack, { message: 'hi', idleTimeoutSeconds: 60 });
    const message = await stack.api('POST', `/v1/sessions/${session.id}/messages`, 'alice', `{"content":"x${NUL_ESCAPE}"}`);
    expect(message.status).toBe(400);
    expect((await json<ErrorJson>(message)).error.fields?.[0]?.path).toBe('body.content');
    const cancel = await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', `{"reason":"${LONE_ESCAPE}"}`);
    expect(cancel.status).toBe(400);
    expect((await json<ErrorJson>(cancel)).error.fields?.[0]?.path).toBe('body.reason');
    expect((await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', {})).status).toBe(202);
    expect((await waitForStatus(stack, session.id, ['cancelled'], 30_000)).status).toBe('cancelled');
  });
});

describe('model and tool output with NUL bytes and lone surrogates', () => {
  it('is stored, the session completes and its events are readable', async () => {
    const session = await startSession(stack, { message: 'show me hostile bytes', metadata: { scenario: 'hostile-bytes' } });
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    // The model's text: NUL shown as ␀, a lone surrogate as �; the tool's NUL byte came through its output.
    expect(done.finalAnswer).toContain(`Done ${NUL_REPLACEMENT} with`);
    expect(done.finalAnswer).toContain(`lone ${SURROGATE_REPLACEMENT} low surrogate`);
    expect(done.finalAnswer).toContain(`nul:${NUL_REPLACEMENT}:end`);

    const events = await readAllEvents(stack, session.id);
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['llm.response', 'tool.decision', 'tool.started', 'tool.result', 'session.ended']));
    const decision = events.find((e) => e.type === 'tool.decision');
    expect(decision?.data).toMatchObject({ action: 'allow' });
    const started = events.find((e) => e.type === 'tool.started');
    expect(String((started?.data.arguments as { command: string }).command)).toContain(`lone ${SURROGATE_REPLACEMENT} in the command`);
    const firstAnswer = events.find((e) => e.type === 'llm.response');
    expect(firstAnswer?.data.content).toBe(`Looking ${NUL_REPLACEMENT} at ${SURROGATE_REPLACEMENT} it.`);

    // The transcript the model reads back holds the same, well-formed text.
    const [result] = await toolResults(stack, session.id);
    expect(result).toMatchObject({ ok: true, exit_code: 0 });
    expect(String(result?.stdout)).toContain('nul:\u0000:end');
  });
});

describe('a write that can never succeed', () => {
  it('fails the session at once, saying why, and releases its sandbox', async () => {
    const session = await startSession(stack, { message: 'say hello from the sandbox', metadata: { refuse: 'second-answer' } });
    const done = await waitForStatus(stack, session.id, undefined, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toContain('SQLSTATE 23514');
    expect(done.error).toContain('this answer is refused');
    expect(await containersOf(stack, session.id)).toHaveLength(0);
  });

  it('a tool result the transcript refuses (a sandbox activity): failed at once, sandbox released', async () => {
    const session = await startSession(stack, { message: 'say hello from the sandbox', metadata: { refuse: 'tool-result' } });
    const done = await waitForStatus(stack, session.id, undefined, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toContain('SQLSTATE 23514');
    expect(done.error).toContain('this tool result is refused');
    expect(await containersOf(stack, session.id)).toHaveLength(0);
  });

  it('an event the log refuses ends the session as failed, saying so', async () => {
    const session = await startSession(stack, { message: 'say hello from the sandbox', metadata: { refuse: 'decision-event' } });
    const done = await waitForStatus(stack, session.id, undefined, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toContain('this event is refused');
  });

  it('a refused session.ended still ends the session row, with the reason', async () => {
    const session = await startSession(stack, { message: 'hi', metadata: { refuse: 'ended-event' } });
    const row = await waitFor(
      async () => {
        const r = await stack.db.selectFrom('sessions').selectAll().where('id', '=', session.id).executeTakeFirstOrThrow();
        return r.ended_at ? r : undefined;
      },
      60_000,
      'the session row to end',
    );
    expect(row.status).toBe('completed');
    expect(row.error).toContain('the session.ended event could not be written');
    expect(row.error).toContain('the end is refused');
  });
});

describe('cancel ends a session whatever it waits on', () => {
  it('a first write that keeps failing (retryable): cancelled within seconds', async () => {
    const session = await startSession(stack, { message: 'hi', metadata: { refuse: 'first-message' } });
    // Wedged: the first write retries; nothing of the session is stored.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await getSession(stack, session.id)).status).toBe('running');
    const res = await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'bob', { reason: 'wedged' });
    expect(res.status).toBe(202);
    const started = Date.now();
    const done = await waitForStatus(stack, session.id, ['cancelled', 'failed', 'completed'], 20_000);
    expect(done.status).toBe('cancelled');
    expect(done.error).toBe('cancelled by bob: wedged');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a model call that keeps failing, after a sandbox was claimed: cancelled within seconds, sandbox released', async () => {
    const session = await startSession(stack, { message: 'hi', metadata: { scenario: 'model-down' } });
    await waitFor(async () => (await containersOf(stack, session.id)).length > 0 && (await toolResults(stack, session.id)).length > 0, 60_000, 'the tool to run');
    // The next model call is failing and being retried.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await getSession(stack, session.id)).status).toBe('running');
    const started = Date.now();
    expect((await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', {})).status).toBe(202);
    const done = await waitForStatus(stack, session.id, ['cancelled', 'failed', 'completed'], 30_000);
    expect(done.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(15_000);
    await waitFor(async () => (await containersOf(stack, session.id)).length === 0, 15_000, 'the sandbox to be released');
    const events = await readAllEvents(stack, session.id);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['sandbox.released', 'session.ended']));
  });
});

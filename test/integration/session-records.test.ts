/**
 * The one writer of a session's records (db/session-records.ts writeSessionRecords) on the real Postgres:
 * events numbered on from the row's last seq, each key once, messages kept at their first write, hostile
 * text stored rather than refused, and many writers of the same keys at once (a retried activity running
 * beside its first attempt) leaving one event per key with no gap in the seqs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../db/client.js';
import { createSessionRow, writeSessionRecords, type NewEvent } from '../../db/session-records.js';
import { NUL_REPLACEMENT, SURROGATE_REPLACEMENT } from '../../db/storable.js';
import { createTenant } from '../../db/tenants.js';
import { EVENT_KEY_SOURCES, EVENT_TYPES, eventKey } from '../../domain/events.js';
import type { SessionRef } from '../../domain/session.js';

let db: Db;
const tenantId = `t_records_${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  db = createDb({ url: inject('services').databaseUrl, poolMax: 24 });
  await createTenant(db, { id: tenantId });
});

afterAll(async () => {
  await db.destroy();
});

async function newSession(): Promise<SessionRef> {
  const ref = { tenantId, sessionId: `ses_${randomUUID()}`, createdAt: new Date().toISOString() };
  await createSessionRow(db, { id: ref.sessionId, tenantId, agent: 'a', requester: 'r', policyName: 'p', policyHash: 'h', model: null, metadata: {}, createdAt: ref.createdAt });
  return ref;
}

const decision = (n: number | string, data: Record<string, unknown> = { n }): NewEvent => ({ key: eventKey(EVENT_KEY_SOURCES.workflow, n), type: EVENT_TYPES.toolDecision, data });

async function stored(ref: SessionRef) {
  const events = await db
    .selectFrom('session_events')
    .select(['seq', 'idempotency_key', 'data'])
    .where('session_id', '=', ref.sessionId)
    .where('session_created_at', '=', new Date(ref.createdAt))
    .orderBy('seq')
    .execute();
  const row = await db.selectFrom('sessions').select(['last_event_seq', 'step', 'status']).where('id', '=', ref.sessionId).executeTakeFirstOrThrow();
  return { events, row };
}

describe('writeSessionRecords', () => {
  it('numbers new events on from the last seq, in the order given, each key once; a message keeps its first write', async () => {
    const ref = await newSession();
    const first = await writeSessionRecords(db, ref, {
      messages: [{ seq: 0, role: 'system', content: 'first' }],
      events: [decision(1), decision(2), decision(1, { n: 'again' })],
      patch: { step: 3 },
    });
    expect(first).toEqual({ messagesInserted: 1 });
    const again = await writeSessionRecords(db, ref, { messages: [{ seq: 0, role: 'system', content: 'second' }], events: [decision(2), decision(3)] });
    expect(again).toEqual({ messagesInserted: 0 });
    const nothing = await writeSessionRecords(db, ref, {});
    expect(nothing).toEqual({ messagesInserted: 0 });
    const { events, row } = await stored(ref);
    expect(events.map((e) => [e.seq, e.idempotency_key, e.data])).toEqual([
      [1, 'wf:1', { n: 1 }],
      [2, 'wf:2', { n: 2 }],
      [3, 'wf:3', { n: 3 }],
    ]);
    expect(row).toEqual({ last_event_seq: 3, step: 3, status: 'running' });
    const message = await db.selectFrom('messages').select('content').where('session_id', '=', ref.sessionId).execute();
    expect(message).toEqual([{ content: 'first' }]);
  });

  it('stores NUL bytes and lone surrogates as visible characters, in keys too, and knows such a key again', async () => {
    const ref = await newSession();
    const nasty = `a\u0000b\ud800c`;
    const shown = `a${NUL_REPLACEMENT}b${SURROGATE_REPLACEMENT}c`;
    const write = () =>
      writeSessionRecords(db, ref, {
        messages: [{ seq: 0, role: 'tool', content: nasty, toolCallId: nasty, toolCalls: [{ id: nasty, name: 'shell', arguments: nasty }] }],
        events: [decision(nasty, { output: nasty, [nasty]: 1 })],
      });
    await write();
    await write();
    const { events, row } = await stored(ref);
    expect(events).toEqual([{ seq: 1, idempotency_key: `wf:${shown}`, data: { output: shown, [shown]: 1 } }]);
    expect(row.last_event_seq).toBe(1);
    const message = await db.selectFrom('messages').select(['content', 'tool_call_id', 'tool_calls']).where('session_id', '=', ref.sessionId).executeTakeFirstOrThrow();
    expect(message).toEqual({ content: shown, tool_call_id: shown, tool_calls: [{ id: shown, name: 'shell', arguments: shown }] });
  });

  it('many writers of overlapping keys at once: every key once, seqs 1..n with no gap, the row at n', async () => {
    const ref = await newSession();
    // Each writer: the ten shared keys in its own order, and two of its own. Under the row's lock each write sees
    // every event the ones before it committed; a write that checked its keys before the lock was granted would
    // insert a key twice (a unique violation) or leave a gap.
    const writers = Array.from({ length: 20 }, (_, w) => {
      const shared = Array.from({ length: 10 }, (_, i) => decision(`shared-${(i * 7 + w) % 10}`));
      return writeSessionRecords(db, ref, { events: [...shared, decision(`own-${w}-a`), decision(`own-${w}-b`)] });
    });
    await Promise.all(writers);
    const { events, row } = await stored(ref);
    expect(events).toHaveLength(10 + 20 * 2);
    expect(new Set(events.map((e) => e.idempotency_key)).size).toBe(events.length);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    expect(row.last_event_seq).toBe(events.length);
  });

  it('a session that does not exist is an error that names it, and nothing is written', async () => {
    const ref = { tenantId, sessionId: `ses_${randomUUID()}`, createdAt: new Date().toISOString() };
    await expect(writeSessionRecords(db, ref, { events: [decision(1)] })).rejects.toThrow(`session ${ref.sessionId} of tenant ${tenantId} does not exist`);
    const other = await newSession();
    // Another tenant's session id under this tenant: the same refusal.
    await expect(writeSessionRecords(db, { ...other, tenantId: 'someone-else' }, { events: [decision(1)] })).rejects.toThrow('does not exist');
    expect((await stored(other)).events).toEqual([]);
  });
});

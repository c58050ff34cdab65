/**
 * Back-dated sessions for the retention tests: rows written through the
 * production writers (createSessionRow, writeSessionRecords) into a past
 * month's partition, with hostile text (NUL, lone surrogates, newlines,
 * quotes, emoji, a large payload), plus ledger rows of the same month.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/client.js';
import { ensureMonthlyPartitions } from '../../db/partitions.js';
import { createSessionRow, writeSessionRecords } from '../../db/session-records.js';
import { EVENT_KEY_SOURCES, EVENT_TYPES, eventKey } from '../../domain/events.js';

export const HOSTILE = ['nul \0 inside', 'lone \uD800 high', 'lone \uDC00 low', 'line\nbreak "quoted" \\ back', '😀 ünïcödé', `'; drop table sessions; --`];

/** Creates `month`'s partitions (`2021-03`) and `sessions` ended sessions of `tenantId` started in it, each with `events` events and messages. */
export async function seedMonth(db: Db, tenantId: string, month: string, sessions: number, events: number): Promise<string[]> {
  const [y, m] = month.split('-').map(Number);
  await ensureMonthlyPartitions(db, new Date(Date.UTC(y!, m! - 1, 1)), 1);
  const ids: string[] = [];
  for (let s = 0; s < sessions; s++) {
    const id = `ses_ret-${randomUUID()}`;
    const createdAt = new Date(Date.UTC(y!, m! - 1, 1 + (s % 27), 10, s % 60, 7, 123)).toISOString();
    await createSessionRow(db, { id, tenantId, agent: 'archivist', requester: 'alice', policyName: 'standard', policyHash: 'h', model: 'mock', metadata: { n: String(s) }, createdAt });
    const ref = { tenantId, sessionId: id, createdAt };
    const evs = Array.from({ length: events }, (_, i) => ({
      key: eventKey(EVENT_KEY_SOURCES.workflow, i),
      type: i % 7 === 0 ? EVENT_TYPES.toolResult : EVENT_TYPES.llmResponse,
      data: { i, text: HOSTILE[i % HOSTILE.length], nested: { deep: [1, 2.5, null, true, { k: 'v' }] }, big: i === 0 ? 'x'.repeat(70_000) : undefined },
    }));
    const messages = Array.from({ length: Math.max(1, Math.floor(events / 4)) }, (_, i) => ({
      seq: i,
      role: (i % 2 === 0 ? 'user' : 'assistant') as 'user' | 'assistant',
      content: HOSTILE[i % HOSTILE.length]!,
      toolCalls: i % 3 === 1 ? [{ id: `c${i}`, name: 'shell', arguments: '{"cmd":"ls \\u0000"}' }] : undefined,
    }));
    await writeSessionRecords(db, ref, { messages, events: evs, patch: { status: 'completed', ended: true } });
    ids.push(id);
  }
  for (let i = 0; i < 3; i++) {
    await sql`
      insert into llm_calls (id, created_at, tenant_id, session_id, kind, route, provider, model, provider_model, cost_usd, latency_ms, outcome)
      values (${randomUUID()}, ${new Date(Date.UTC(y!, m! - 1, 2 + i))}, ${tenantId}, ${ids[0] ?? null}, 'chat', 'default', 'mock', 'mock', 'mock-1', 0.00012345, ${12.5 + i}, 'ok')`.execute(db);
  }
  return ids;
}

/** md5 of a relation's rows as text, in primary-key order: equal before archive and after restore means byte-identical rows. */
export async function tableMd5(db: Db, month: string): Promise<{ events: string; messages: string; count: number }> {
  const [y, m] = month.split('-').map(Number);
  const from = new Date(Date.UTC(y!, m! - 1, 1));
  const to = new Date(Date.UTC(y!, m!, 1));
  const events = await sql<{ h: string | null; n: string }>`
    select md5(string_agg(t::text, E'\\n' order by session_id, seq)) as h, count(*) as n from session_events t
    where session_created_at >= ${from} and session_created_at < ${to}`.execute(db);
  const messages = await sql<{ h: string | null }>`
    select md5(string_agg(m::text, E'\\n' order by session_id, seq)) as h from messages m
    where session_id in (select id from sessions where created_at >= ${from} and created_at < ${to})`.execute(db);
  return { events: events.rows[0]!.h ?? 'empty', messages: messages.rows[0]!.h ?? 'empty', count: Number(events.rows[0]!.n) };
}

/** Drops a test month's partitions and catalogue rows, so later files in the same database never see them. */
export async function dropMonth(db: Db, month: string): Promise<void> {
  const suffix = month.replace('-', '');
  for (const t of ['session_events', 'llm_calls']) await sql`drop table if exists ${sql.table(`${t}_${suffix}`)}`.execute(db);
  await db.deleteFrom('archived_months').where('month', '=', `${month}-01`).execute();
}

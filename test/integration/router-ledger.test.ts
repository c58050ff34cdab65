/**
 * The router's Postgres side (a fresh database from the test services, a fake
 * OpenAI-compatible server on loopback): ledger rows in the monthly partition,
 * budgets that hold under concurrency and survive the router, reservations
 * that expire, the per-tenant cache with its TTL, and merged requests.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../db/client.js';
import { postgresBudgets, tenantSpend } from '../../db/llm-budgets.js';
import { postgresCache } from '../../db/llm-cache.js';
import { ledgerRows, postgresRouterStores } from '../../db/llm-ledger.js';
import { type LlmError } from '../../router/errors.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import { budgetPeriods } from '../../router/stores.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { llmError, pricedPolicy } from '../support/router-fixtures.js';

let db: Db;
let fake: FakeOpenAi;
beforeAll(async () => {
  db = createDb({ url: inject('services').databaseUrl, poolMax: 20 });
  fake = await startFakeOpenAi();
});
afterAll(async () => {
  await fake?.close();
  await db?.destroy();
});
afterEach(() => {
  fake.reset();
  fake.respond(() => ({}));
});

/** `priced` reserves $1 a call and costs $0.01; `free` costs nothing (see pricedPolicy). */
function router(extra: Record<string, unknown> = {}): ModelRouter {
  const policy = pricedPolicy(fake.url, {
    routes: [{ name: 'classify', match: { requestType: ['classify'] }, model: 'priced', temperature: 0, cache: { ttlSeconds: 600 } }],
    ...extra,
  });
  return new ModelRouter({ policy, env: {}, timeoutMs: 5_000, stores: postgresRouterStores(db) });
}

const ask = (tenantId: string, content: string, extra: Partial<RouteRequest> = {}): RouteRequest => ({
  tenantId,
  sessionId: `ses_${tenantId}`,
  messages: [{ role: 'user', content }],
  ...extra,
});
const tenant = () => `router-${randomUUID().slice(0, 8)}`;

describe('the ledger', () => {
  it('writes one row per call, with everything the issue lists, in this month’s partition', async () => {
    const t = tenant();
    fake.script({ usage: { prompt_tokens: 1200, completion_tokens: 30, cached_tokens: 200 } });
    const answer = await router().complete(ask(t, 'hello', { requestType: 'classify' }));
    const [row] = await ledgerRows(db, { tenantId: t });
    expect(row).toMatchObject({
      tenantId: t,
      sessionId: `ses_${t}`,
      kind: 'chat',
      route: 'classify',
      requestType: 'classify',
      tier: 'small',
      provider: 'p',
      model: 'priced',
      providerModel: 'big-model',
      inputTokens: 1200,
      outputTokens: 30,
      cachedInputTokens: 200,
      costUsd: 0.03,
      savedUsd: 0,
      cacheHit: false,
      merged: false,
      fallbackUsed: false,
      downgradedFrom: null,
      attempts: 1,
      outcome: 'ok',
      errorClass: null,
    });
    expect(row?.costUsd).toBe(answer.costUsd);
    expect(row?.latencyMs).toBeGreaterThan(0);
    const { rows } = await sql<{ part: string }>`select tableoid::regclass::text as part from llm_calls where id = ${row?.id}::uuid`.execute(db);
    const now = new Date();
    expect(rows[0]?.part).toBe(`llm_calls_${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`);
  });

  it('records failures and refusals too, at zero cost', async () => {
    const t = tenant();
    fake.script({ status: 400, body: { error: { message: 'bad' } } });
    await llmError(router().complete(ask(t, 'bad')));
    await llmError(router({ budgets: { default: { dailyUsd: 0.5 } } }).complete(ask(t, 'too dear')));
    const rows = await ledgerRows(db, { tenantId: t });
    expect(rows.map((r) => [r.outcome, r.errorClass, r.costUsd])).toEqual([
      ['error', 'bad_request', 0],
      ['refused', 'budget_exceeded', 0],
    ]);
  });
});

describe('budgets in Postgres', () => {
  it('lets no more calls run at once than the limit covers, and the spend equals the ledger', async () => {
    const t = tenant();
    const r = router({ mergeInFlight: false, budgets: { default: { dailyUsd: 3, onExceeded: { action: 'refuse' } } } });
    // The upstream answers only once every other call has been refused (or after 3 s), so
    // all ten calls are in flight together whatever the machine's speed.
    let refusals = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((done) => {
      release = done;
      setTimeout(done, 3_000);
    });
    fake.respond(async () => {
      await gate;
      return {};
    });
    const calls = Array.from({ length: 10 }, (_, i) =>
      r.complete(ask(t, `call ${i}`)).catch((err: unknown) => {
        if (++refusals === 7) release();
        throw err;
      }),
    );
    const results = await Promise.allSettled(calls);
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((x) => x.status === 'rejected' && (x.reason as LlmError).errorClass === 'budget_exceeded')).toHaveLength(7);
    expect(fake.count()).toBe(3);
    const rows = await ledgerRows(db, { tenantId: t });
    const spent = rows.reduce((s, row) => s + row.costUsd, 0);
    expect(spent).toBeCloseTo(0.03, 8);
    expect(await tenantSpend(db, t)).toEqual({ dayUsd: 0.03, monthUsd: 0.03 });
    const left = await db.selectFrom('llm_budget_reservations').select('id').where('tenant_id', '=', t).execute();
    expect(left).toEqual([]);
  });

  it('keeps the spend after the router is gone: a new router refuses, or downgrades', async () => {
    const t = tenant();
    const budgets = (action: Record<string, unknown>) => ({ budgets: { default: { dailyUsd: 1.005, onExceeded: action } } });
    await router(budgets({ action: 'refuse' })).complete(ask(t, 'first'));
    const error = await llmError(router(budgets({ action: 'refuse' })).complete(ask(t, 'second')));
    expect(error.message).toContain('daily limit $1.005, spent $0.010000');
    const downgraded = await router(budgets({ action: 'downgrade', model: 'free' })).complete(ask(t, 'third'));
    expect(downgraded).toMatchObject({ model: 'free', downgradedFrom: 'priced', costUsd: 0 });
    const rows = await ledgerRows(db, { tenantId: t });
    expect(rows.map((row) => [row.model, row.outcome, row.downgradedFrom])).toEqual([
      ['priced', 'ok', null],
      ['priced', 'refused', null],
      ['free', 'ok', 'priced'],
    ]);
  });

  it('counts live reservations and ignores expired ones (a worker that died mid-call)', async () => {
    const t = tenant();
    const budgets = postgresBudgets(db);
    const limits = { dailyUsd: 2 };
    const held = await budgets.reserve(t, 1.5, limits, 60);
    expect(held.ok).toBe(true);
    expect(await budgets.reserve(t, 1, limits, 60)).toMatchObject({ ok: false, period: 'day', limitUsd: 2, spentUsd: 0, reservedUsd: 1.5 });
    await db.updateTable('llm_budget_reservations').set({ expires_at: sql<Date>`now() - interval '1 minute'` }).where('tenant_id', '=', t).execute();
    const after = await budgets.reserve(t, 1, limits, 60);
    expect(after).toMatchObject({ ok: true, remaining: { dayUsd: 1 } });
    if (after.ok) await budgets.release(after.reservation);
    expect(budgetPeriods(new Date('2026-02-03T23:59:59Z'))).toEqual({ day: '2026-02-03', month: '2026-02-01' });
  });
});

describe('the cache in Postgres', () => {
  it('hits for the same tenant at zero cost with the saving in the ledger, never for another, and not after its TTL', async () => {
    const [t1, t2] = [tenant(), tenant()];
    const r = router();
    const first = await r.complete(ask(t1, 'spam?', { requestType: 'classify' }));
    const hit = await r.complete(ask(t1, 'spam?', { requestType: 'classify' }));
    const other = await r.complete(ask(t2, 'spam?', { requestType: 'classify' }));
    expect([first.cacheHit, hit.cacheHit, other.cacheHit]).toEqual([false, true, false]);
    expect(hit).toMatchObject({ content: first.content, costUsd: 0, savedUsd: first.costUsd });
    expect(fake.count()).toBe(2);
    const rows = await ledgerRows(db, { tenantId: t1 });
    expect(rows.map((row) => [row.outcome, row.cacheHit, row.costUsd, row.savedUsd])).toEqual([
      ['ok', false, 0.01, 0],
      ['cache_hit', true, 0, 0.01],
    ]);

    await db.updateTable('llm_cache').set({ expires_at: sql<Date>`now() - interval '1 second'` }).where('tenant_id', '=', t1).execute();
    expect((await r.complete(ask(t1, 'spam?', { requestType: 'classify' }))).cacheHit).toBe(false);
    expect(fake.count()).toBe(3);
    expect(await postgresCache(db).purgeExpired()).toBeGreaterThanOrEqual(0);
  });

  it('merges identical requests in flight into one upstream call, one row each', async () => {
    const t = tenant();
    fake.respond(() => ({ delayMs: 200 }));
    const r = router();
    await Promise.all(Array.from({ length: 6 }, () => r.complete(ask(t, 'same'))));
    expect(fake.count()).toBe(1);
    const rows = await ledgerRows(db, { tenantId: t });
    expect(rows.filter((row) => row.outcome === 'ok')).toHaveLength(1);
    expect(rows.filter((row) => row.outcome === 'merged' && row.savedUsd === 0.01)).toHaveLength(5);
  });
});

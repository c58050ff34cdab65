/**
 * Money and sharing, with the in-memory stores (Postgres has its own tests in
 * test/integration/router-ledger.test.ts): budgets that refuse or downgrade,
 * reservations that hold concurrent calls under a limit, free models never
 * blocked, the per-tenant cache, merged identical requests (counted by the
 * fake server), and the Prometheus metrics of all of it.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../observability/metrics.js';
import { requestKey } from '../../router/cache-key.js';
import { type LlmError } from '../../router/errors.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import { MemoryRouterStore } from '../../router/stores.js';
import type { ChatMessage } from '../../router/types.js';
import type { FakeOpenAi } from '../support/fake-openai.js';
import { llmError, pricedPolicy, useFakeOpenAi } from '../support/router-fixtures.js';

let fake: FakeOpenAi;
useFakeOpenAi((f) => (fake = f));

/** `priced` reserves $1 a call and costs $0.01; `free` costs nothing (see pricedPolicy). */
function setup(extra: Record<string, unknown> = {}, clock = { now: Date.parse('2026-03-10T12:00:00Z') }) {
  const policy = pricedPolicy(fake.url, {
    routes: [
      { name: 'cached', match: { requestType: ['classify'] }, model: 'priced', temperature: 0, cache: { ttlSeconds: 60 } },
      { name: 'flagged', match: { requestType: ['lookup'] }, model: 'priced', cache: { deterministic: true } },
    ],
    ...extra,
  });
  const store = new MemoryRouterStore(() => clock.now);
  const metrics = createMetrics({ service: 'test', defaultMetrics: false });
  const router = new ModelRouter({ policy, env: {}, timeoutMs: 5_000, stores: store, metrics, now: () => clock.now });
  return { router, store, metrics, clock };
}

const ask = (tenantId: string, content: string, extra: Partial<RouteRequest> = {}): RouteRequest => ({
  tenantId,
  sessionId: `session-${tenantId}`,
  messages: [{ role: 'user', content }],
  ...extra,
});

describe('budgets', () => {
  it('refuses a call the budget cannot cover, before sending it, as a non-retryable error', async () => {
    const { router, store } = setup({ budgets: { tenants: { poor: { dailyUsd: 0.5, onExceeded: { action: 'refuse' } } } } });
    const error = await llmError(router.complete(ask('poor', 'hi')));
    expect(error).toMatchObject({ errorClass: 'budget_exceeded', retryable: false });
    expect(error.message).toBe('model budget of tenant poor exceeded: daily limit $0.5, spent $0.000000, reserved $0.000000, this call on priced may cost up to $1.000000');
    expect(fake.count()).toBe(0);
    expect(store.rows).toEqual([expect.objectContaining({ outcome: 'refused', errorClass: 'budget_exceeded', costUsd: 0, model: 'priced' })]);
  });

  it('downgrades to the named model when the budget is spent, and records it', async () => {
    const { router, store } = setup({ budgets: { default: { dailyUsd: 1.005, onExceeded: { action: 'downgrade', model: 'free' } } } });
    const first = await router.complete(ask('t', 'one'));
    expect(first).toMatchObject({ model: 'priced', costUsd: 0.01, downgradedFrom: null });
    // $0.01 spent + $1 to reserve > $1.005.
    const second = await router.complete(ask('t', 'two'));
    expect(second).toMatchObject({ model: 'free', downgradedFrom: 'priced', fallbackUsed: false, costUsd: 0 });
    expect(fake.requests.map((r) => r.body.model)).toEqual(['big-model', 'local-model']);
    expect(store.rows.map((r) => [r.model, r.outcome, r.downgradedFrom])).toEqual([
      ['priced', 'ok', null],
      ['free', 'ok', 'priced'],
    ]);
  });

  it('never blocks a zero-price model, however spent the budget is', async () => {
    const { router } = setup({ default: 'free', budgets: { default: { dailyUsd: 0.001, onExceeded: { action: 'refuse' } } } });
    for (let i = 0; i < 3; i++) expect((await router.complete(ask('t', `free ${i}`))).model).toBe('free');
    expect(fake.count()).toBe(3);
  });

  it('counts the month as well as the day', async () => {
    const { router, clock } = setup({ budgets: { default: { dailyUsd: 5, monthlyUsd: 1.015, onExceeded: { action: 'refuse' } } } });
    await router.complete(ask('t', 'day one'));
    clock.now += 86_400_000;
    await router.complete(ask('t', 'day two'));
    clock.now += 86_400_000;
    const error = await llmError(router.complete(ask('t', 'day three')));
    expect(error.message).toContain('monthly limit $1.015, spent $0.020000');
  });

  it('holds concurrent calls under the limit with reservations: never more in flight than the budget covers', async () => {
    const { router, store } = setup({ mergeInFlight: false, budgets: { default: { dailyUsd: 3, onExceeded: { action: 'refuse' } } } });
    fake.respond(() => ({ delayMs: 150 }));
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => router.complete(ask('t', `call ${i}`))));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected' && (r.reason as LlmError).errorClass === 'budget_exceeded');
    expect(ok).toHaveLength(3);
    expect(refused).toHaveLength(5);
    expect(fake.count()).toBe(3);
    expect(store.rows.filter((r) => r.outcome === 'ok').reduce((s, r) => s + r.costUsd, 0)).toBeCloseTo(0.03, 8);
    // Settled calls gave their reservations back: the next call fits again.
    expect((await router.complete(ask('t', 'after'))).model).toBe('priced');
  });
});

describe('cache', () => {
  it('answers an identical deterministic request from the cache at zero cost, noting the saving', async () => {
    const { router, store } = setup();
    const first = await router.complete(ask('t1', 'is this spam?', { requestType: 'classify' }));
    const second = await router.complete(ask('t1', 'is this spam?', { requestType: 'classify' }));
    expect(fake.count()).toBe(1);
    expect(fake.requests[0]?.body.temperature).toBe(0);
    expect(first).toMatchObject({ cacheHit: false, costUsd: 0.01 });
    expect(second).toMatchObject({ cacheHit: true, costUsd: 0, savedUsd: 0.01, content: first.content, usage: { inputTokens: 0, outputTokens: 0 } });
    expect(store.rows.map((r) => [r.outcome, r.costUsd, r.savedUsd, r.cacheHit])).toEqual([
      ['ok', 0.01, 0, false],
      ['cache_hit', 0, 0.01, true],
    ]);
  });

  it('never gives one tenant the answer cached for another', async () => {
    const { router } = setup();
    await router.complete(ask('t1', 'same question', { requestType: 'classify' }));
    const other = await router.complete(ask('t2', 'same question', { requestType: 'classify' }));
    expect(other.cacheHit).toBe(false);
    expect(fake.count()).toBe(2);
  });

  it('does not cache a request that is not deterministic, unless the route says it is', async () => {
    const { router } = setup();
    await router.complete(ask('t1', 'tell a story'));
    await router.complete(ask('t1', 'tell a story'));
    expect(fake.count()).toBe(2);
    await router.complete(ask('t1', 'look it up', { requestType: 'lookup' }));
    expect((await router.complete(ask('t1', 'look it up', { requestType: 'lookup' }))).cacheHit).toBe(true);
    expect(fake.count()).toBe(3);
  });

  it('forgets an answer after its TTL', async () => {
    const { router, clock } = setup();
    await router.complete(ask('t1', 'ttl', { requestType: 'classify' }));
    clock.now += 61_000;
    expect((await router.complete(ask('t1', 'ttl', { requestType: 'classify' }))).cacheHit).toBe(false);
    expect(fake.count()).toBe(2);
  });

  it('keys requests on their normalised form: tool call ids, line endings and key order do not matter, content does', () => {
    const transcript = (id: string, text: string): ChatMessage[] => [
      { role: 'user', content: text },
      { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'shell', arguments: '{"command":"ls"}' } }] },
      { role: 'tool', tool_call_id: id, content: 'a.txt' },
    ];
    const base = { model: 'm', providerModel: 'x', tools: [{ type: 'function', function: { name: 'shell', parameters: { b: 1, a: 2 } } }] };
    const one = requestKey({ ...base, messages: transcript('call_abc', 'list\r\nfiles  ') });
    const two = requestKey({ ...base, messages: transcript('call_0_0', 'list\nfiles'), tools: [{ function: { parameters: { a: 2, b: 1 }, name: 'shell' }, type: 'function' }] });
    expect(one).toBe(two);
    expect(requestKey({ ...base, messages: transcript('call_0_0', 'list other files') })).not.toBe(one);
    expect(requestKey({ ...base, messages: transcript('call_0_0', 'list\nfiles'), temperature: 0.5 })).not.toBe(one);
  });
});

describe('merging identical requests in flight', () => {
  it('sends N identical concurrent requests upstream once', async () => {
    const { router, store } = setup();
    fake.respond(() => ({ delayMs: 150 }));
    const answers = await Promise.all(Array.from({ length: 5 }, () => router.complete(ask('t1', 'the same thing'))));
    expect(fake.count()).toBe(1);
    expect(new Set(answers.map((a) => a.content)).size).toBe(1);
    expect(answers.filter((a) => a.merged)).toHaveLength(4);
    expect(store.rows.map((r) => r.outcome).sort()).toEqual(['merged', 'merged', 'merged', 'merged', 'ok']);
    expect(store.rows.filter((r) => r.merged).every((r) => r.costUsd === 0 && r.savedUsd === 0.01)).toBe(true);
  });

  it('does not merge across tenants or different requests', async () => {
    const { router } = setup();
    fake.respond(() => ({ delayMs: 100 }));
    await Promise.all([router.complete(ask('t1', 'x')), router.complete(ask('t2', 'x')), router.complete(ask('t1', 'y'))]);
    expect(fake.count()).toBe(3);
  });

  it('shares a failure with every caller, and a later call goes upstream again', async () => {
    const { router } = setup({ retries: { maxRetries: 0, initialDelayMs: 0, maxDelayMs: 0, retryOn: [] } });
    fake.script({ status: 500, delayMs: 100 });
    const results = await Promise.allSettled([router.complete(ask('t1', 'x')), router.complete(ask('t1', 'x'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(fake.count()).toBe(1);
    await router.complete(ask('t1', 'x'));
    expect(fake.count()).toBe(2);
  });

  it('keeps the shared call going when one caller gives up', async () => {
    const { router } = setup();
    fake.respond(() => ({ delayMs: 150 }));
    const quitter = new AbortController();
    const first = router.complete(ask('t1', 'z', { signal: quitter.signal }));
    const second = router.complete(ask('t1', 'z'));
    setTimeout(() => quitter.abort(new Error('cancelled by the activity')), 30);
    await expect(first).rejects.toThrow('cancelled by the activity');
    expect((await second).content).toBe('echo: z');
    expect(fake.count()).toBe(1);
  });
});

describe('metrics', () => {
  it('counts requests, tokens, cost, cache hits, fallbacks and the budget left', async () => {
    const { router, metrics } = setup({
      budgets: { default: { dailyUsd: 10, onExceeded: { action: 'refuse' } } },
      routes: [{ name: 'cached', match: { requestType: ['classify'] }, model: 'priced', temperature: 0, fallbacks: { server_error: ['free'] } }],
      retries: { maxRetries: 0, initialDelayMs: 0, maxDelayMs: 0, retryOn: [] },
    });
    await router.complete(ask('acme', 'q', { requestType: 'classify' }));
    await router.complete(ask('acme', 'q', { requestType: 'classify' }));
    fake.script({ status: 500 });
    await router.complete(ask('acme', 'other', { requestType: 'classify' }));
    const text = await metrics.registry.metrics();
    expect(text).toContain('llm_requests_total{provider="p",model="priced",outcome="ok",service="test"} 1');
    expect(text).toContain('llm_requests_total{provider="p",model="priced",outcome="cache_hit",service="test"} 1');
    expect(text).toContain('llm_requests_total{provider="p",model="free",outcome="ok",service="test"} 1');
    expect(text).toContain('llm_tokens_total{direction="input",service="test"} 200');
    expect(text).toContain('llm_tokens_total{direction="output",service="test"} 20');
    expect(text).toContain('llm_cost_usd_total{tenant="acme",model="priced",service="test"} 0.01');
    expect(text).toContain('llm_cache_hits_total{service="test"} 1');
    expect(text).toContain('llm_fallbacks_total{service="test"} 1');
    expect(text).toContain('tenant_budget_remaining_usd{tenant="acme",period="day",service="test"} 9.99');
    expect(text).toContain('llm_latency_seconds_count{service="test",provider="p",model="priced"} 1');
  });
});

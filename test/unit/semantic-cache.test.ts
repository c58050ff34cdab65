/**
 * The semantic cache through the router (in-memory stores; Postgres in
 * test/integration/semantic-cache.test.ts), against a fake OpenAI-compatible
 * server that counts the calls that reached it, with the in-process hashed
 * embedder: near duplicates hit per route and threshold, never across
 * tenants, never when a tool result, a number, a name or a negation differs;
 * the ledger rows and metrics of hits and misses; what a lookup skips.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../observability/metrics.js';
import { hashedEmbedding } from '../../router/hashed-embedder.js';
import { parseModelPolicy } from '../../router/model-policy.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import { cosine } from '../../router/semantic-cache.js';
import { literalsOf, semanticSplit } from '../../router/semantic-key.js';
import { MemoryRouterStore } from '../../router/stores.js';
import type { ChatMessage } from '../../router/types.js';
import type { FakeOpenAi } from '../support/fake-openai.js';
import { pricedPolicy, useFakeOpenAi } from '../support/router-fixtures.js';

let fake: FakeOpenAi;
useFakeOpenAi((f) => (fake = f));

/** Route `faq` opts in (threshold 0.9), `strict` too at 0.99, `plain` does not; all priced at $0.01 a call, temperature 0. */
function setup(extra: Record<string, unknown> = {}) {
  const policy = pricedPolicy(fake.url, {
    routes: [
      { name: 'faq', match: { requestType: ['faq'] }, model: 'priced', temperature: 0, semanticCache: { threshold: 0.9 } },
      { name: 'strict', match: { requestType: ['strict'] }, model: 'priced', temperature: 0, semanticCache: { threshold: 0.99 } },
      { name: 'plain', match: { requestType: ['plain'] }, model: 'priced', temperature: 0 },
      { name: 'warm', match: { requestType: ['warm'] }, model: 'priced', temperature: 0.7, semanticCache: {} },
    ],
    semanticCache: { embeddingModel: 'hashed_embed', maxTextChars: 2000 },
    ...extra,
  });
  const store = new MemoryRouterStore();
  const metrics = createMetrics({ service: 'test', defaultMetrics: false });
  const router = new ModelRouter({ policy, env: {}, timeoutMs: 5_000, stores: store, metrics });
  const chatRows = () => store.rows.filter((r) => r.kind === 'chat');
  const metric = async (name: string) => (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return { router, store, metrics, chatRows, metric };
}

const ask = (tenantId: string, requestType: string, content: string, before: ChatMessage[] = []): RouteRequest => ({
  tenantId,
  sessionId: `session-${tenantId}`,
  requestType,
  messages: [{ role: 'system', content: 'You answer questions about the build.' }, ...before, { role: 'user', content }],
});

describe('semantic cache through the router', () => {
  it('answers a paraphrase from the cache: one upstream call, the hit and its similarity and saving in the ledger and metrics', async () => {
    const { router, chatRows, metric, store } = setup();
    const first = await router.complete(ask('t1', 'faq', 'Please delete the temporary log file in the build directory.'));
    const second = await router.complete(ask('t1', 'faq', 'Delete the temporary log file in the build directory, please'));
    expect(fake.count()).toBe(1);
    expect(second).toMatchObject({ content: first.content, cacheHit: true, savedUsd: first.costUsd, costUsd: 0 });
    const [miss, hit] = chatRows();
    expect(miss).toMatchObject({ outcome: 'ok', semanticCache: 'miss', semanticSimilarity: null, costUsd: 0.01 });
    expect(hit).toMatchObject({ outcome: 'cache_hit', cacheHit: true, semanticCache: 'hit', savedUsd: 0.01, costUsd: 0, route: 'faq' });
    expect(hit?.semanticSimilarity).toBeGreaterThanOrEqual(0.9);
    // Each lookup embedded its text through the router: a ledger row of its own, free with the hashed embedder.
    expect(store.rows.filter((r) => r.kind === 'embedding')).toEqual([
      expect.objectContaining({ requestType: 'semantic_cache', model: 'hashed_embed', provider: 'hashed', outcome: 'ok', costUsd: 0 }),
      expect.objectContaining({ requestType: 'semantic_cache', model: 'hashed_embed', outcome: 'ok' }),
    ]);
    expect(await metric('llm_semantic_cache_lookups_total')).toEqual(
      expect.arrayContaining([expect.objectContaining({ labels: { result: 'hit' }, value: 1 }), expect.objectContaining({ labels: { result: 'miss' }, value: 1 })]),
    );
    expect(await metric('llm_cache_saved_usd_total')).toEqual([expect.objectContaining({ labels: { kind: 'semantic' }, value: 0.01 })]);
    const similarity = await metric('llm_semantic_cache_similarity');
    expect(similarity.find((v) => 'metricName' in v && v.metricName === 'llm_semantic_cache_similarity_count' && v.labels.result === 'hit')?.value).toBe(1);
  });

  it('the exact cache answers first; the semantic cache is not asked', async () => {
    const { router, chatRows, store } = setup();
    await router.complete(ask('t1', 'faq', 'How do I run the billing tests?'));
    const again = await router.complete(ask('t1', 'faq', 'How do I run the billing tests?'));
    expect(again.cacheHit).toBe(true);
    expect(fake.count()).toBe(1);
    expect(chatRows()[1]).toMatchObject({ outcome: 'cache_hit', semanticCache: null, savedUsd: 0.01 });
    expect(store.rows.filter((r) => r.kind === 'embedding')).toHaveLength(1);
  });

  it('misses below the threshold, and the threshold is the route’s', async () => {
    const { router, chatRows } = setup();
    const a = 'Please delete the temporary log file in the build directory.';
    const b = 'Could you delete the temporary log files in the build directory?';
    const s = cosine(hashedEmbedding(a), hashedEmbedding(b));
    expect(s).toBeGreaterThan(0.9);
    expect(s).toBeLessThan(0.99);
    await router.complete(ask('t1', 'strict', a));
    const strict = await router.complete(ask('t1', 'strict', b));
    expect(strict.cacheHit).toBe(false);
    expect(chatRows()[1]).toMatchObject({ outcome: 'ok', semanticCache: 'miss' });
    expect(chatRows()[1]?.semanticSimilarity).toBeCloseTo(s, 4);
    // Another tenant: t1's exact cache (keyed by request, not route) would answer `a` on faq.
    await router.complete(ask('t2', 'faq', a));
    expect((await router.complete(ask('t2', 'faq', b))).cacheHit).toBe(true);
    expect(fake.count()).toBe(3);
  });

  it('never hits across tenants: another tenant’s identical request goes upstream', async () => {
    const { router, chatRows } = setup();
    await router.complete(ask('tenant-a', 'faq', 'Summarise the failing test output for me.'));
    const other = await router.complete(ask('tenant-b', 'faq', 'Summarise the failing test output for me.'));
    expect(other.cacheHit).toBe(false);
    expect(fake.count()).toBe(2);
    // Not even a candidate: tenant-b's scope is empty.
    expect(chatRows()[1]).toMatchObject({ tenantId: 'tenant-b', semanticCache: 'miss', semanticSimilarity: null });
  });

  it('a different tool result is a miss, whatever the wording; the same transcript with other call ids hits', async () => {
    const { router, chatRows } = setup();
    const turn = (id: string, stdout: string): ChatMessage[] => [
      { role: 'user', content: 'Check the disk.' },
      { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'shell', arguments: '{"command":"df -h"}' } }] },
      { role: 'tool', tool_call_id: id, content: stdout },
    ];
    await router.complete(ask('t1', 'faq', 'Is the disk almost full?', turn('call_a', '/dev/sda1 91%')));
    const changed = await router.complete(ask('t1', 'faq', 'Is the disk almost full?', turn('call_b', '/dev/sda1 12%')));
    expect(changed.cacheHit).toBe(false);
    expect(chatRows()[1]).toMatchObject({ semanticCache: 'miss', semanticSimilarity: null });
    const same = await router.complete(ask('t1', 'faq', 'is the disk almost full', turn('call_zz', '/dev/sda1 91%')));
    expect(same.cacheHit).toBe(true);
    expect(fake.count()).toBe(2);
  });

  it('hard negatives miss: another verb, number, name, path or a negation', async () => {
    const { router, chatRows } = setup();
    const pairs: [string, string][] = [
      ['Delete the file report.txt in the home directory now', 'Keep the file report.txt in the home directory now'],
      ['Move the meeting with the design team to 3 pm', 'Move the meeting with the design team to 4 pm'],
      ['Send the quarterly report to Alice before lunch', 'Send the quarterly report to Bob before lunch'],
      ['Open src/app.ts and fix the lint errors', 'Open src/api.ts and fix the lint errors'],
      ['Restart the worker after the deploy', 'Do not restart the worker after the deploy'],
    ];
    for (const [i, [a, b]] of pairs.entries()) {
      await router.complete(ask(`neg-${i}`, 'faq', a));
      expect((await router.complete(ask(`neg-${i}`, 'faq', b))).cacheHit, b).toBe(false);
    }
    expect(fake.count()).toBe(10);
    expect(chatRows().filter((r) => r.semanticCache === 'hit')).toEqual([]);
  });

  it('routes without semanticCache, and requests that are not cacheable, are not looked up', async () => {
    const { router, chatRows, store } = setup();
    await router.complete(ask('t1', 'plain', 'What does the build script do?'));
    await router.complete(ask('t1', 'plain', 'what does the build script do'));
    await router.complete(ask('t1', 'warm', 'Write a haiku about builds.'));
    await router.complete(ask('t1', 'warm', 'write a haiku about builds'));
    expect(fake.count()).toBe(4);
    expect(chatRows().map((r) => r.semanticCache)).toEqual([null, null, null, null]);
    expect(store.rows.filter((r) => r.kind === 'embedding')).toEqual([]);
  });

  it('skips texts over maxTextChars (no embedding) and survives NUL bytes and lone surrogates', async () => {
    const { router, chatRows, store } = setup();
    await router.complete(ask('t1', 'faq', 'x'.repeat(2001)));
    expect(chatRows()[0]).toMatchObject({ semanticCache: 'skipped', semanticSimilarity: null });
    expect(store.rows.filter((r) => r.kind === 'embedding')).toEqual([]);
    const hostile = 'Explain \u0000 this \ud800 error message please';
    await router.complete(ask('t1', 'faq', hostile));
    const again = await router.complete(ask('t1', 'faq', `${hostile}!`));
    expect(again.cacheHit).toBe(true);
  });

  it('an embedding that fails is a lookup error; the request is answered upstream', async () => {
    // The fake server has no /v1/embeddings: the embedding call fails.
    const { router, chatRows, metric } = setup({
      models: {
        priced: { provider: 'p', model: 'big-model', inputPerMTok: 0, outputPerMTok: 1000, maxOutputTokens: 1000, contextWindow: 100_000 },
        remote_embed: { provider: 'p', model: 'embed-model', type: 'embedding' },
      },
      semanticCache: { embeddingModel: 'remote_embed' },
    });
    const answer = await router.complete(ask('t1', 'faq', 'What failed in the last deploy?'));
    expect(answer.content).not.toBeNull();
    expect(fake.count()).toBe(1);
    expect(chatRows()[0]).toMatchObject({ outcome: 'ok', semanticCache: 'error' });
    expect(await metric('llm_semantic_cache_lookups_total')).toEqual([expect.objectContaining({ labels: { result: 'error' }, value: 1 })]);
  });
});

describe('the split of a request', () => {
  const base = { model: 'm', providerModel: 'pm', temperature: 0, maxOutputTokens: 10 };
  const extra = { route: 'r', embeddingModel: 'e/x', maxTextChars: 100 };

  it('compares only the last user message by meaning; the rest of the request is the exact scope', () => {
    const a = semanticSplit({ ...base, messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'hello there' }] }, extra);
    const b = semanticSplit({ ...base, messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi there' }] }, extra);
    const c = semanticSplit({ ...base, messages: [{ role: 'system', content: 'S2' }, { role: 'user', content: 'hello there' }] }, extra);
    expect(a?.scope).toBe(b?.scope);
    expect(a?.text).toBe('hello there');
    expect(c?.scope).not.toBe(a?.scope);
    expect(semanticSplit({ ...base, messages: [{ role: 'user', content: 'hello there' }] }, { ...extra, route: 'other' })?.scope).not.toBe(
      semanticSplit({ ...base, messages: [{ role: 'user', content: 'hello there' }] }, extra)?.scope,
    );
    expect(semanticSplit({ ...base, messages: [{ role: 'system', content: 'S' }] }, extra)).toBeUndefined();
    expect(semanticSplit({ ...base, messages: [{ role: 'user', content: '   ' }] }, extra)).toBeUndefined();
  });

  it('keeps numbers, paths, names, quoted strings and the count of negations as literals', () => {
    expect(literalsOf('Please move "draft 2" to docs/old, then ping Carol. Don’t delete v1.2!')).toEqual(['n:Carol', 'neg:1', 'q:draft 2', 't:2', 't:docs/old', 't:v1.2']);
    expect(literalsOf('Do not restart it')).toEqual(literalsOf("don't restart it"));
    expect(literalsOf('WHAT IS THE DEFAULT SESSION TIMEOUT?')).toEqual(literalsOf('What is the default session timeout?'));
    expect(literalsOf('Restart it')).not.toEqual(literalsOf('Never restart it'));
  });

  it('rejects a route that opts in without an embedding model, and a threshold out of range, naming the path', () => {
    expect(() => parseModelPolicy({ default: 'mock', routes: [{ name: 'r', model: 'mock', semanticCache: {} }] })).toThrow(/routes\.0\.semanticCache: needs an embedding model/);
    expect(() =>
      parseModelPolicy({ default: 'mock', embeddings: { model: 'mock_embed' }, routes: [{ name: 'r', model: 'mock', semanticCache: { threshold: 1.5 } }] }),
    ).toThrow(/routes\.0\.semanticCache\.threshold/);
    expect(() => parseModelPolicy({ default: 'mock', semanticCache: { embeddingModel: 'mock' } })).toThrow(/semanticCache\.embeddingModel: model "mock" is not a embedding model/);
    const policy = parseModelPolicy({ default: 'mock', embeddings: { model: 'mock_embed' }, routes: [{ name: 'r', model: 'mock', semanticCache: {} }] });
    expect(policy.routes[0]?.semanticCache).toEqual({ embeddingModel: 'mock_embed', threshold: 0.92, ttlSeconds: 3600, maxCandidates: 200, maxTextChars: 4000 });
    expect(policy.defaultRoute.semanticCache).toBeNull();
  });
});

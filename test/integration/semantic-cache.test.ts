/**
 * The semantic cache on Postgres (the test services' database, migrated with
 * 0011_semantic_cache), through the router as a worker builds it
 * (postgresRouterStores), against a fake OpenAI-compatible server that counts
 * the calls reaching it: hit and miss with their similarity in `llm_calls`
 * and in the metrics, answers shared between two router instances (two
 * workers) but never between tenants, a different tool result a miss, the
 * candidate bound and the TTL, and embeddings over HTTP (the mock LLM's
 * /v1/embeddings) as well as in process.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../db/client.js';
import { ledgerRows, postgresRouterStores } from '../../db/llm-ledger.js';
import { runDbMaintenance } from '../../db/maintenance.js';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { createMetrics, type Metrics } from '../../observability/metrics.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import type { ChatMessage } from '../../router/types.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { pricedPolicy } from '../support/router-fixtures.js';

let db: Db;
let fake: FakeOpenAi;
let mock: MockLlmServer;
beforeAll(async () => {
  db = createDb({ url: inject('services').databaseUrl, poolMax: 10 });
  fake = await startFakeOpenAi();
  mock = await startMockLlm();
});
afterAll(async () => {
  await mock?.close();
  await fake?.close();
  await db?.destroy();
});
afterEach(() => {
  fake.reset();
  fake.respond(() => ({}));
});

/** A worker's router on the shared Postgres: route `faq` opts in at 0.9 with the hashed embedder (or `embedder`). */
function worker(options: { maxCandidates?: number; embedder?: 'hashed_embed' | 'mock_embed' } = {}): { router: ModelRouter; metrics: Metrics } {
  const policy = pricedPolicy(fake.url, {
    providers: { p: { kind: 'openai-compatible', baseUrl: fake.url }, m: { kind: 'mock', baseUrl: mock.url } },
    models: {
      priced: { provider: 'p', model: 'big-model', inputPerMTok: 0, outputPerMTok: 1000, maxOutputTokens: 1000, contextWindow: 100_000 },
      mock_embed: { provider: 'm', model: 'mock-embed', type: 'embedding' },
    },
    routes: [{ name: 'faq', match: { requestType: ['faq'] }, model: 'priced', temperature: 0, semanticCache: { threshold: 0.9 } }],
    semanticCache: { embeddingModel: options.embedder ?? 'hashed_embed', maxCandidates: options.maxCandidates ?? 200 },
  });
  const metrics = createMetrics({ service: 'test', defaultMetrics: false });
  return { router: new ModelRouter({ policy, env: {}, timeoutMs: 5_000, stores: postgresRouterStores(db), metrics }), metrics };
}

const ask = (tenantId: string, content: string, before: ChatMessage[] = []): RouteRequest => ({
  tenantId,
  sessionId: `ses_${tenantId}`,
  requestType: 'faq',
  messages: [{ role: 'system', content: 'You answer questions about the build.' }, ...before, { role: 'user', content }],
});
const tenant = () => `sem-${randomUUID().slice(0, 8)}`;
const chatRows = async (tenantId: string) => (await ledgerRows(db, { tenantId })).filter((r) => r.kind === 'chat');

describe('semantic cache on Postgres', () => {
  it('a paraphrase asked on another worker is answered from Postgres; the ledger rows say miss, then hit with its similarity and saving', async () => {
    const t = tenant();
    const first = await worker().router.complete(ask(t, 'Please delete the temporary log file in the build directory.'));
    const { router, metrics } = worker();
    const second = await router.complete(ask(t, 'Delete the temporary log file in the build directory, please'));
    expect(fake.count()).toBe(1);
    expect(second).toMatchObject({ cacheHit: true, content: first.content, savedUsd: 0.01 });
    const [miss, hit] = await chatRows(t);
    expect(miss).toMatchObject({ outcome: 'ok', semanticCache: 'miss', semanticSimilarity: null, costUsd: 0.01, cacheHit: false });
    expect(hit).toMatchObject({ outcome: 'cache_hit', semanticCache: 'hit', cacheHit: true, savedUsd: 0.01, costUsd: 0 });
    expect(hit?.semanticSimilarity).toBeGreaterThanOrEqual(0.9);
    expect(hit?.semanticSimilarity).toBeLessThanOrEqual(1);
    const lookups = await metrics.registry.getSingleMetric('llm_semantic_cache_lookups_total')?.get();
    expect(lookups?.values).toEqual([expect.objectContaining({ labels: { result: 'hit' }, value: 1 })]);
    // One stored row: the vector (512 float32), a hash of the text and the answer; no column holds the prompt.
    const stored = await db.selectFrom('llm_semantic_cache').selectAll().select(sql<number>`octet_length(vector)`.as('bytes')).where('tenant_id', '=', t).execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ dims: 512, bytes: 2048, text_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(Object.keys(stored[0]?.value ?? {}).sort()).toEqual(['answer', 'model', 'provider', 'providerModel']);
  });

  it('another tenant’s identical request misses (no candidate at all), and is stored for that tenant only', async () => {
    const [a, b] = [tenant(), tenant()];
    await worker().router.complete(ask(a, 'Summarise the failing test output for me.'));
    const other = await worker().router.complete(ask(b, 'Summarise the failing test output for me.'));
    expect(other.cacheHit).toBe(false);
    expect(fake.count()).toBe(2);
    expect(await chatRows(b)).toEqual([expect.objectContaining({ outcome: 'ok', semanticCache: 'miss', semanticSimilarity: null })]);
    const owners = await db.selectFrom('llm_semantic_cache').select('tenant_id').where('tenant_id', 'in', [a, b]).orderBy('tenant_id').execute();
    expect(owners.map((o) => o.tenant_id).sort()).toEqual([a, b].sort());
  });

  it('the same question after a different tool result misses', async () => {
    const t = tenant();
    const turn = (stdout: string): ChatMessage[] => [
      { role: 'user', content: 'Check the disk.' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'shell', arguments: '{"command":"df -h"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: stdout },
    ];
    await worker().router.complete(ask(t, 'Is the disk almost full?', turn('/dev/sda1 91%')));
    const changed = await worker().router.complete(ask(t, 'is the disk almost full', turn('/dev/sda1 12%')));
    expect(changed.cacheHit).toBe(false);
    const same = await worker().router.complete(ask(t, 'is the disk almost full', turn('/dev/sda1 91%')));
    expect(same.cacheHit).toBe(true);
    expect((await chatRows(t)).map((r) => r.semanticCache)).toEqual(['miss', 'miss', 'hit']);
  });

  it('compares only the newest maxCandidates of the scope, and never an expired entry', async () => {
    const t = tenant();
    const { router } = worker({ maxCandidates: 2 });
    await router.complete(ask(t, 'How do I rotate the API keys of the staging cluster?'));
    for (const q of ['What is the capital of France?', 'Write a limerick about compilers.']) await router.complete(ask(t, q));
    // The first entry is third newest now: out of reach with maxCandidates 2.
    expect((await router.complete(ask(t, 'how do i rotate the api keys of the staging cluster'))).cacheHit).toBe(false);
    // Asked again it was stored again (newest), and hits; once expired it does not.
    expect((await router.complete(ask(t, 'How do I rotate the API keys of the staging cluster, please?'))).cacheHit).toBe(true);
    await db.updateTable('llm_semantic_cache').set({ expires_at: sql<Date>`now() - interval '1 second'` }).where('tenant_id', '=', t).execute();
    expect((await router.complete(ask(t, 'Please, how do I rotate the API keys of the staging cluster?'))).cacheHit).toBe(false);
  });

  it('the maintenance run deletes expired entries, and only those', async () => {
    const t = tenant();
    const { router } = worker();
    await router.complete(ask(t, 'Which dashboards show the queue length?'));
    await router.complete(ask(t, 'Who is on call this week?'));
    const answerIs = sql<boolean>`value @> ${JSON.stringify({ answer: { content: 'echo: Which dashboards show the queue length?' } })}::jsonb`;
    await db.updateTable('llm_semantic_cache').set({ expires_at: sql<Date>`now() - interval '1 minute'` }).where('tenant_id', '=', t).where(answerIs).execute();
    const report = await runDbMaintenance(db, { llmCallsRetentionMonths: 0 });
    expect(report.semanticCacheRowsDeleted).toBeGreaterThanOrEqual(1);
    const left = await db.selectFrom('llm_semantic_cache').select('value').where('tenant_id', '=', t).execute();
    expect(left.map((r) => (r.value as { answer?: { content?: string } }).answer?.content)).toEqual(['echo: Who is on call this week?']);
  });

  it('embeds over HTTP too (the mock LLM’s /v1/embeddings): its hash vectors only meet for the same text', async () => {
    const t = tenant();
    const { router } = worker({ embedder: 'mock_embed' });
    await router.complete(ask(t, 'List the open incidents.'));
    // Leading blanks: the exact cache keeps them (a miss), the compared text is trimmed (the mock's vectors are equal).
    expect((await router.complete(ask(t, '  List the open incidents.'))).cacheHit).toBe(true);
    expect((await router.complete(ask(t, 'List the open incidents, please.'))).cacheHit).toBe(false);
    const embeds = (await ledgerRows(db, { tenantId: t })).filter((r) => r.kind === 'embedding');
    expect(embeds).toHaveLength(3);
    expect(embeds.every((r) => r.provider === 'm' && r.requestType === 'semantic_cache' && r.outcome === 'ok')).toBe(true);
  });
});

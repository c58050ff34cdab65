/**
 * The semantic cache with its embeddings from a real local server: Ollama
 * (scripts/provision/ollama.sh) serving kortix-tiny for the chat and the
 * embeddings, on the Postgres stores a worker uses. The other semantic-cache
 * tests embed in process (hashed_embed) or with the mock's hash vectors;
 * here the vectors come over HTTP from the engine production points at
 * (router/model_policy.prod.yaml: local_embed on the local provider).
 *
 * kortix-tiny has random weights, so its vectors say nothing about meaning:
 * what is asserted is the path. The same text embeds to the same vector
 * (similarity 1: a hit), the scope keeps tenants and tool results apart
 * whatever the vectors, each lookup is its own ledger row (kind embedding,
 * provider ollama, cost 0), and an embedder that is configured but
 * unreachable, or lacks its model, makes the lookup an `error` and the
 * request is answered upstream, never failed.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../db/client.js';
import { ledgerRows, postgresRouterStores } from '../../db/llm-ledger.js';
import { parseModelPolicy } from '../../router/model-policy.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import type { ChatMessage } from '../../router/types.js';
import { startLocalModel, type LocalModel } from '../support/local-model.js';

let db: Db;
let local: LocalModel;
/** A loopback port nothing listens on: an embedder that is configured but unreachable. */
let closedPort: number;
beforeAll(async () => {
  db = createDb({ url: inject('services').databaseUrl, poolMax: 5 });
  // Its own models dir: local-model.test.ts may run its own server beside this one.
  local = await startLocalModel(join(inject('services').tmpDir, 'semantic-ollama'));
  closedPort = await new Promise<number>((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}, 900_000); // the first run on a machine may build Ollama
afterAll(async () => {
  await local?.server.stop();
  await db?.destroy();
});

/**
 * A worker's router: route `faq` (temperature 0, cached) opts in to the
 * semantic cache; `embedder` picks the embedding model: kortix-tiny on the
 * server, the same server asked for a model it does not have, or a provider
 * on a port nothing listens on.
 */
function worker(embedder: 'tiny_embed' | 'unpulled_embed' | 'gone_embed' = 'tiny_embed'): ModelRouter {
  const url = local.server.openAiUrl;
  const policy = parseModelPolicy({
    providers: {
      ollama: { kind: 'openai-compatible', baseUrl: url },
      ollama_gone: { kind: 'openai-compatible', baseUrl: `http://127.0.0.1:${closedPort}/v1`, timeoutMs: 5_000 },
    },
    models: {
      tiny: { provider: 'ollama', model: local.model, tier: 'small', contextWindow: 1024, maxOutputTokens: 8 },
      tiny_embed: { provider: 'ollama', model: local.model, type: 'embedding', contextWindow: 1024 },
      unpulled_embed: { provider: 'ollama', model: 'nomic-embed-text', type: 'embedding', contextWindow: 8192 },
      gone_embed: { provider: 'ollama_gone', model: local.model, type: 'embedding', contextWindow: 1024 },
    },
    default: 'tiny',
    routes: [{ name: 'faq', match: { requestType: ['faq'] }, model: 'tiny', temperature: 0, semanticCache: {} }],
    // Random weights say nothing about meaning: only a vector equal to the stored one may hit here.
    semanticCache: { embeddingModel: embedder, threshold: 0.9999 },
    retries: { maxRetries: 1, initialDelayMs: 10 },
  });
  return new ModelRouter({ policy, env: {}, timeoutMs: 120_000, stores: postgresRouterStores(db) });
}

const tenant = () => `lsem-${randomUUID().slice(0, 8)}`;
const ask = (tenantId: string, content: string, before: ChatMessage[] = []): RouteRequest => ({
  tenantId,
  sessionId: `ses_${tenantId}`,
  requestType: 'faq',
  messages: [{ role: 'system', content: 'You answer questions about the build.' }, ...before, { role: 'user', content }],
});
const rowsOf = async (tenantId: string) => {
  const rows = await ledgerRows(db, { tenantId });
  return { chat: rows.filter((r) => r.kind === 'chat'), embedding: rows.filter((r) => r.kind === 'embedding') };
};

describe('the semantic cache over Ollama’s embeddings', () => {
  it('answers a repeat from the cache at similarity 1, each lookup an embedding call to ollama at cost 0 in the ledger', async () => {
    const t = tenant();
    const first = await worker().complete(ask(t, 'Which dashboards show the queue length?'));
    // Blanks around the text: a miss for the exact cache, the same compared text (and vector) for the semantic one.
    const again = await worker().complete(ask(t, '  Which dashboards show the queue length?\n'));
    expect(first).toMatchObject({ cacheHit: false, provider: 'ollama', costUsd: 0 });
    expect(again).toMatchObject({ cacheHit: true, content: first.content, provider: 'ollama', model: 'tiny' });

    const { chat, embedding } = await rowsOf(t);
    expect(chat.map((r) => [r.provider, r.outcome, r.semanticCache, r.costUsd])).toEqual([
      ['ollama', 'ok', 'miss', 0],
      ['ollama', 'cache_hit', 'hit', 0],
    ]);
    expect(chat[0]?.semanticSimilarity).toBeNull(); // nothing stored yet
    expect(chat[1]?.semanticSimilarity).toBeGreaterThanOrEqual(0.9999);
    expect(embedding).toHaveLength(2);
    for (const row of embedding) {
      expect(row).toMatchObject({ provider: 'ollama', model: 'tiny_embed', providerModel: local.model, requestType: 'semantic_cache', outcome: 'ok', costUsd: 0, usageEstimated: false });
      expect(row.inputTokens).toBeGreaterThan(0); // counted by the server
    }
    // The stored vector is the server's: kortix-tiny's 128 dimensions (the hashed embedder has 512).
    const stored = await db.selectFrom('llm_semantic_cache').select(['dims']).where('tenant_id', '=', t).execute();
    expect(stored).toEqual([{ dims: 128 }]);
  });

  it('never answers another tenant’s identical request: no candidate at all, the request goes to the model', async () => {
    const [a, b] = [tenant(), tenant()];
    await worker().complete(ask(a, 'Summarise the failing test output for me.'));
    const other = await worker().complete(ask(b, 'Summarise the failing test output for me.'));
    expect(other.cacheHit).toBe(false);
    const { chat, embedding } = await rowsOf(b);
    expect(chat).toEqual([expect.objectContaining({ provider: 'ollama', outcome: 'ok', semanticCache: 'miss', semanticSimilarity: null })]);
    expect(embedding).toEqual([expect.objectContaining({ provider: 'ollama', requestType: 'semantic_cache', costUsd: 0 })]);
  });

  it('never hits when a tool result differs, and hits when it is the same', async () => {
    const t = tenant();
    const turn = (stdout: string): ChatMessage[] => [
      { role: 'user', content: 'Check the disk.' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'shell', arguments: '{"command":"df -h"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: stdout },
    ];
    await worker().complete(ask(t, 'Is the disk almost full?', turn('/dev/sda1 91%')));
    // The same question and the same vector; another tool result: another scope.
    expect((await worker().complete(ask(t, ' Is the disk almost full?', turn('/dev/sda1 12%')))).cacheHit).toBe(false);
    expect((await worker().complete(ask(t, '  Is the disk almost full?', turn('/dev/sda1 91%')))).cacheHit).toBe(true);
    const { chat } = await rowsOf(t);
    expect(chat.map((r) => [r.semanticCache, r.semanticSimilarity === null ? null : r.semanticSimilarity >= 0.9999])).toEqual([
      ['miss', null],
      ['miss', null],
      ['hit', true],
    ]);
  });

  it.each([
    ['unreachable (nothing listens on its port)', 'gone_embed', 'ollama_gone'],
    ['reachable without its model (nomic-embed-text never pulled)', 'unpulled_embed', 'ollama'],
  ] as const)('an embedder that is %s is a lookup error: the request is answered, nothing is stored', async (_what, embedder, provider) => {
    const t = tenant();
    const r = worker(embedder);
    const answer = await r.complete(ask(t, 'What failed in the last deploy?'));
    const again = await r.complete(ask(t, ' What failed in the last deploy?'));
    expect(answer).toMatchObject({ cacheHit: false, provider: 'ollama', model: 'tiny' });
    expect(answer.usage.outputTokens).toBeGreaterThan(0);
    expect(again.cacheHit).toBe(false);
    const { chat, embedding } = await rowsOf(t);
    expect(chat.map((row) => [row.provider, row.outcome, row.semanticCache, row.semanticSimilarity])).toEqual([
      ['ollama', 'ok', 'error', null],
      ['ollama', 'ok', 'error', null],
    ]);
    expect(embedding).toHaveLength(2);
    for (const row of embedding) expect(row).toMatchObject({ provider, model: embedder, requestType: 'semantic_cache', outcome: 'error', costUsd: 0 });
    expect(await db.selectFrom('llm_semantic_cache').select('tenant_id').where('tenant_id', '=', t).execute()).toEqual([]);
  });
});

/**
 * The router's local route on a real inference server: Ollama (built offline
 * by scripts/provision/ollama.sh) serving kortix-tiny, a random-weight Llama
 * written by scripts/lib/tiny-model.ts. Its words are noise, so everything
 * here asserts on structure: streamed deltas that add up to the answer, usage
 * reported by the server (not estimated) in the Postgres ledger at the local
 * price (0), a timeout and a missing model classified and sent down the
 * policy's fallback chain, embeddings from the same server, and a whole
 * session (API → Temporal → llmStep → router → Ollama) on the local engine.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../db/client.js';
import { ledgerRows, postgresRouterStores } from '../../db/llm-ledger.js';
import { parseModelPolicy } from '../../router/model-policy.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import { startLocalModel, type LocalModel } from '../support/local-model.js';
import { llmError } from '../support/router-fixtures.js';
import { readAllEvents, startSession, waitForStatus } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';

let db: Db;
let local: LocalModel;
beforeAll(async () => {
  db = createDb({ url: inject('services').databaseUrl, poolMax: 5 });
  local = await startLocalModel(inject('services').tmpDir);
}, 900_000); // the first run on a machine may build Ollama (scripts/provision/ollama.sh)
afterAll(async () => {
  await local?.server.stop();
  await db?.destroy();
});

/**
 * tiny: kortix-tiny, streamed; hasty: the same model behind a 150 ms timeout
 * asked for 2000 tokens (no answer fits in that), falling back to tiny; ghost:
 * a model the server does not have, falling back to tiny.
 */
function router(): ModelRouter {
  const url = local.server.openAiUrl;
  const policy = parseModelPolicy({
    providers: {
      ollama: { kind: 'openai-compatible', baseUrl: url },
      ollama_hasty: { kind: 'openai-compatible', baseUrl: url, timeoutMs: 150 },
    },
    models: {
      tiny: { provider: 'ollama', model: local.model, stream: true, tier: 'small', contextWindow: 1024, maxOutputTokens: 16 },
      tiny_json: { provider: 'ollama', model: local.model, tier: 'small', contextWindow: 1024, maxOutputTokens: 16 },
      hasty: { provider: 'ollama_hasty', model: local.model, stream: true, contextWindow: 4096, maxOutputTokens: 2000 },
      ghost: { provider: 'ollama', model: 'no-such-model:latest', contextWindow: 1024, maxOutputTokens: 16 },
      tiny_embed: { provider: 'ollama', model: local.model, type: 'embedding', contextWindow: 1024 },
    },
    default: 'tiny',
    routes: [
      { name: 'hasty', match: { requestType: ['hasty'] }, model: 'hasty', temperature: 0, cache: { enabled: false }, fallbacks: { timeout: ['tiny'] } },
      { name: 'ghost', match: { requestType: ['ghost'] }, model: 'ghost', fallbacks: { model_missing: ['tiny'] } },
      { name: 'ghost-alone', match: { requestType: ['ghost-alone'] }, model: 'ghost', fallbacks: { server_error: ['tiny'] } },
    ],
    retries: { maxRetries: 1, initialDelayMs: 10 },
    embeddings: { model: 'tiny_embed' },
  });
  // Generous: two busy cores; the timeout under test is the hasty provider's own.
  return new ModelRouter({ policy, env: {}, timeoutMs: 120_000, stores: postgresRouterStores(db) });
}

const tenant = () => `local-${randomUUID().slice(0, 8)}`;
const ask = (tenantId: string, content: string, extra: Partial<RouteRequest> = {}): RouteRequest => ({
  tenantId,
  sessionId: `ses_${tenantId}`,
  messages: [{ role: 'user', content }],
  ...extra,
});

describe('the local route on a real Ollama', () => {
  it('streams an answer with the server’s usage, and books it in the ledger at the local price', async () => {
    const t = tenant();
    const deltas: string[] = [];
    const answer = await router().complete(ask(t, 'Say something about the water.', { onDelta: (d) => deltas.push(d) }));
    expect(answer).toMatchObject({ model: 'tiny', provider: 'ollama', providerModel: local.model, costUsd: 0, fallbackUsed: false });
    expect(answer.usageEstimated).toBeUndefined(); // stream_options.include_usage: the server counted
    expect(answer.usage.inputTokens).toBeGreaterThan(5); // the chat template's tokens and the message's
    expect(answer.usage.outputTokens).toBeGreaterThan(0);
    expect(answer.usage.outputTokens).toBeLessThanOrEqual(16); // max_tokens reached the server
    expect(deltas.join('')).toBe(answer.content ?? '');
    const rows = await ledgerRows(db, { tenantId: t });
    expect(rows).toEqual([
      expect.objectContaining({
        kind: 'chat',
        provider: 'ollama',
        model: 'tiny',
        providerModel: local.model,
        outcome: 'ok',
        inputTokens: answer.usage.inputTokens,
        outputTokens: answer.usage.outputTokens,
        costUsd: 0,
        usageEstimated: false,
        attempts: 1,
      }),
    ]);
  });

  it('answers without streaming too, and the server tokenizes hostile text (NUL, emoji, a long run of one letter) without failing', async () => {
    const t = tenant();
    const r = router();
    const plain = await r.complete(ask(t, 'hello', { model: 'tiny_json' }));
    const hostile = await r.complete(ask(t, `nul\u0000byte 🦙 ${'x'.repeat(600)}`, { model: 'tiny_json' }));
    expect(plain.usage.outputTokens).toBeGreaterThan(0);
    // Byte fallback: the emoji is 4 byte tokens, the NUL one; the long run many more.
    expect(hostile.usage.inputTokens).toBeGreaterThan(plain.usage.inputTokens + 50);
    const rows = await ledgerRows(db, { tenantId: t });
    expect(rows.map((row) => [row.provider, row.outcome, row.costUsd, row.usageEstimated])).toEqual([
      ['ollama', 'ok', 0, false],
      ['ollama', 'ok', 0, false],
    ]);
  });

  it('classifies a call that outlives the provider’s timeout as timeout and falls back per the policy', async () => {
    const t = tenant();
    const answer = await router().complete(ask(t, 'Count to two thousand.', { requestType: 'hasty' }));
    expect(answer).toMatchObject({ model: 'tiny', route: 'hasty', fallbackUsed: true, costUsd: 0 });
    // The hasty deployment: one try, one retry-less timeout (timeouts are not in retryOn), then tiny.
    const [row] = await ledgerRows(db, { tenantId: t });
    expect(row).toMatchObject({ model: 'tiny', fallbackUsed: true, outcome: 'ok', attempts: 2 });
  });

  it('says a missing model is missing: not retried, the model_missing chain taken, and with no such chain a clear error', async () => {
    const t = tenant();
    const r = router();
    const answer = await r.complete(ask(t, 'hello', { requestType: 'ghost' }));
    expect(answer).toMatchObject({ model: 'tiny', fallbackUsed: true, attempts: 2 });

    const error = await llmError(r.complete(ask(t, 'hello', { requestType: 'ghost-alone' })));
    expect(error).toMatchObject({ errorClass: 'model_missing', retryable: false, details: { status: 404 } });
    expect(error.message).toContain('no-such-model');
    const rows = await ledgerRows(db, { tenantId: t });
    expect(rows.map((row) => [row.model, row.outcome, row.errorClass, row.attempts])).toEqual([
      ['tiny', 'ok', null, 2],
      ['ghost', 'error', 'model_missing', 1],
    ]);
  });

  it('embeds with the same server: one normalised vector per input, the same text the same vector, booked at 0', async () => {
    const t = tenant();
    const r = router();
    const [first, again] = await Promise.all([r.embed({ tenantId: t, input: ['reset my password', 'the weather in Lisbon'] }), r.embed({ tenantId: t, input: 'reset my password' })]);
    expect(first).toMatchObject({ model: 'tiny_embed', provider: 'ollama', costUsd: 0 });
    expect(first.vectors).toHaveLength(2);
    const [a, b] = first.vectors as [readonly number[], readonly number[]];
    expect(a).toHaveLength(128); // kortix-tiny's embedding_length
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Math.hypot(...a)).toBeCloseTo(1, 3);
    expect(a).not.toEqual(b);
    const same = again.vectors[0] as readonly number[];
    expect(a.reduce((s, x, i) => s + x * (same[i] as number), 0)).toBeCloseTo(1, 3);
    const rows = await ledgerRows(db, { tenantId: t });
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatchObject({ kind: 'embedding', provider: 'ollama', outcome: 'ok', costUsd: 0 });
    expect(rows.reduce((s, row) => s + row.inputTokens, 0)).toBeGreaterThan(0);
  });
});

describe('a whole session on the local engine', () => {
  let stack: Stack;
  beforeAll(async () => {
    const file = join(inject('services').tmpDir, `local-policy-${randomUUID().slice(0, 8)}.yaml`);
    // The built-in `local` provider (LOCAL_LLM_URL), as `make dev` and production configure it.
    writeFileSync(
      file,
      [
        'default: tiny',
        'models:',
        `  tiny: { provider: local, model: ${local.model}, stream: true, tier: small, contextWindow: 1024, maxOutputTokens: 16 }`,
        `  ghost: { provider: local, model: not-pulled, contextWindow: 1024, maxOutputTokens: 16 }`,
        'routes:',
        '  - { name: ghostly, match: { requestType: [ghostly] }, model: ghost }',
        '',
      ].join('\n'),
    );
    stack = await startStack(inject('services'), { env: { MODEL_POLICY_FILE: file, LOCAL_LLM_URL: local.server.openAiUrl } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('runs a session whose every model call is a local call at cost 0', async () => {
    const session = await startSession(stack, { message: 'Tell me a story about llamas.' });
    const done = await waitForStatus(stack, session.id, undefined, 120_000);
    // Noise rarely parses as a tool call; either way the session ends on its own.
    expect(['completed', 'failed']).toContain(done.status);
    const rows = await ledgerRows(stack.db, { tenantId: stack.tenantId, sessionId: session.id });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toHaveLength(done.usage.llmCalls);
    for (const row of rows) expect(row).toMatchObject({ provider: 'local', model: 'tiny', providerModel: local.model, costUsd: 0, usageEstimated: false });
    expect(done.usage.costUsd).toBe(0);
    expect(done.usage.inputTokens).toBe(rows.reduce((s, r) => s + r.inputTokens, 0));
    expect(done.usage.outputTokens).toBe(rows.reduce((s, r) => s + r.outputTokens, 0));
    const responses = (await readAllEvents(stack, session.id)).filter((e) => e.type === 'llm.response');
    expect(responses).toHaveLength(rows.length);
    responses.forEach((e, i) => expect(e.data).toMatchObject({ provider: 'local', model: 'tiny', costUsd: 0, step: i + 1 }));
  });

  it('/readyz reports the local endpoint and which of its models it has, without gating readiness on them', async () => {
    const res = await stack.app.request('/readyz');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ready: boolean; models: { provider: string; ok: boolean; url: string; models: { name: string; model: string; available: boolean | null }[] }[] };
    expect(body.ready).toBe(true);
    expect(body.models).toEqual([
      {
        provider: 'local',
        kind: 'openai-compatible',
        url: local.server.openAiUrl,
        ok: true,
        models: [
          { name: 'ghost', model: 'not-pulled', available: false },
          { name: 'tiny', model: local.model, available: true },
        ],
      },
    ]);
  });

  it('fails a session on a model the server does not have at once, saying so, without retries', async () => {
    const session = await startSession(stack, { message: 'hello', model: 'ghost' });
    const done = await waitForStatus(stack, session.id, undefined, 120_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/not-pulled.*not found/);
    const rows = await ledgerRows(stack.db, { tenantId: stack.tenantId, sessionId: session.id });
    // One activity attempt: non-retryable, so Temporal does not try again.
    expect(rows.map((r) => [r.outcome, r.errorClass, r.attempts])).toEqual([['error', 'model_missing', 1]]);
  });
});

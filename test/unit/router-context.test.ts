/**
 * The context-window guard (a larger model, else trim or summarise by the
 * agent's setting, never a request bound to fail), checked on what the fake
 * server received; and embeddings micro-batching through the mock LLM's
 * /v1/embeddings (also driven by the official openai client).
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { mockEmbedding } from '../../mock-llm/embeddings.js';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { trimTranscript } from '../../router/context-guard.js';
import { parseModelPolicy } from '../../router/model-policy.js';
import { apportion } from '../../router/batcher.js';
import { ModelRouter, type RouteRequest } from '../../router/router.js';
import { MemoryRouterStore } from '../../router/stores.js';
import { estimatePromptTokens } from '../../router/tokens.js';
import type { ChatMessage } from '../../router/types.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { llmError } from '../support/router-fixtures.js';

/** An agent transcript: system prompt, task, then `steps` tool calls with big outputs. */
function agentTranscript(steps: number, outputWords = 150): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are an agent with a shell.' },
    { role: 'user', content: 'Find the failing test and fix it.' },
  ];
  for (let i = 0; i < steps; i++) {
    messages.push({ role: 'assistant', content: null, tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: 'shell', arguments: `{"command":"step ${i}"}` } }] });
    messages.push({ role: 'tool', tool_call_id: `call_${i}`, content: `output of step ${i}: ${'lorem ipsum '.repeat(outputWords)}` });
  }
  return messages;
}

/** Every tool message answers a call of an earlier assistant message, and every call has its answer. */
function paired(messages: readonly ChatMessage[]): boolean {
  const calls = new Set<string>();
  const answered = new Set<string>();
  for (const m of messages) {
    if (m.role === 'assistant') for (const c of m.tool_calls ?? []) calls.add(c.id);
    if (m.role === 'tool') {
      if (!calls.has(m.tool_call_id)) return false;
      answered.add(m.tool_call_id);
    }
  }
  return [...calls].every((id) => answered.has(id));
}

describe('context-window guard', () => {
  let fake: FakeOpenAi;
  beforeAll(async () => {
    fake = await startFakeOpenAi();
  });
  afterAll(async () => {
    await fake?.close();
  });
  afterEach(() => fake.reset());

  function router(route: Record<string, unknown> = {}, context: Record<string, unknown> = {}) {
    const policy = parseModelPolicy({
      providers: { p: { kind: 'openai-compatible', baseUrl: fake.url } },
      models: {
        small: { provider: 'p', model: 'small-model', contextWindow: 1200, maxOutputTokens: 200 },
        large: { provider: 'p', model: 'large-model', contextWindow: 100_000, maxOutputTokens: 1000 },
        summarizer: { provider: 'p', model: 'summary-model', contextWindow: 100_000, maxOutputTokens: 1000 },
      },
      default: 'small',
      routes: [{ name: 'agent', match: {}, model: 'small', ...route }],
      context: { keepRecentMessages: 2, estimateMargin: 1.1, summaryModel: 'summarizer', ...context },
    });
    const store = new MemoryRouterStore();
    return { router: new ModelRouter({ policy, env: {}, timeoutMs: 5_000, stores: store }), store };
  }
  const request = (messages: ChatMessage[], extra: Partial<RouteRequest> = {}): RouteRequest => ({ tenantId: 't', messages, ...extra });

  it('sends a request that fits as it is', async () => {
    const { router: r } = router();
    const answer = await r.complete(request(agentTranscript(1, 20)));
    expect(answer.context).toBeNull();
    expect(fake.requests[0]?.body.messages).toHaveLength(4);
  });

  it('routes to a larger model when the policy allows one', async () => {
    const { router: r } = router({ fallbacks: { context_window: ['large'] } });
    const answer = await r.complete(request(agentTranscript(6)));
    expect(answer).toMatchObject({ model: 'large', context: { largerModelFor: 'small', toolOutputsTrimmed: 0, messagesRemoved: 0 } });
    expect(fake.requests[0]?.body).toMatchObject({ model: 'large-model', max_tokens: 1000 });
    expect(fake.requests[0]?.body.messages).toHaveLength(14);
  });

  it('trims the oldest tool outputs, then the oldest turns, keeping the task and the latest messages paired', async () => {
    const { router: r } = router({ onContextOverflow: 'trim' });
    const transcript = agentTranscript(6);
    const answer = await r.complete(request(transcript));
    const sent = fake.requests[0]?.body.messages as ChatMessage[];
    expect(answer.context?.toolOutputsTrimmed).toBeGreaterThan(0);
    expect(answer.model).toBe('small');
    expect(sent[0]).toEqual(transcript[0]);
    expect(sent[1]).toEqual(transcript[1]);
    expect(sent.at(-1)).toEqual(transcript.at(-1));
    expect(paired(sent)).toBe(true);
    // What was sent fits the small model with room for its answer.
    expect(estimatePromptTokens(sent) * 1.1 + 200).toBeLessThanOrEqual(1200);
    expect(sent.some((m) => m.role === 'tool' && m.content.startsWith('[tool output trimmed'))).toBe(true);
  });

  it('drops whole old turns when trimming outputs is not enough', () => {
    const transcript = agentTranscript(30, 5);
    const cut = trimTranscript(transcript, undefined, 300, 2);
    expect(cut).toBeDefined();
    expect(cut?.messagesRemoved).toBeGreaterThan(0);
    expect(cut?.promptTokens).toBeLessThanOrEqual(300);
    expect(paired(cut?.messages ?? [])).toBe(true);
    expect(cut?.messages.slice(0, 2)).toEqual(transcript.slice(0, 2));
  });

  it('summarises the oldest turns with the summary model when the agent asks for it', async () => {
    const { router: r, store } = router({ onContextOverflow: 'summarize' });
    fake.respond((req) => (req.body.model === 'summary-model' ? { content: 'Ran steps 0-3: all outputs were lorem ipsum.' } : {}));
    const transcript = agentTranscript(6);
    const answer = await r.complete(request(transcript));
    expect(fake.requests.map((q) => q.body.model)).toEqual(['summary-model', 'small-model']);
    const summaryRequest = fake.requests[0]?.body.messages as ChatMessage[];
    expect(summaryRequest[1]?.content).toContain('output of step 0');
    const sent = fake.requests[1]?.body.messages as ChatMessage[];
    expect(sent[1]).toMatchObject({ role: 'system', content: expect.stringContaining('Ran steps 0-3') });
    expect(sent.at(-1)).toEqual(transcript.at(-1));
    expect(paired(sent)).toBe(true);
    expect(answer.context).toMatchObject({ summarized: true });
    expect(answer.context?.messagesRemoved).toBeGreaterThan(0);
    // The summary is a call of its own in the ledger.
    expect(store.rows.map((row) => [row.requestType, row.model])).toEqual([
      ['summary', 'summarizer'],
      [null, 'small'],
    ]);
  });

  it('refuses, without sending, when the agent says fail and no larger model is allowed', async () => {
    const { router: r } = router({ onContextOverflow: 'fail' });
    const error = await llmError(r.complete(request(agentTranscript(6))));
    expect(error).toMatchObject({ errorClass: 'context_window', retryable: false });
    expect(error.message).toMatch(/does not fit small \(window 1200, 200 kept for the answer\), no larger model is allowed and onContextOverflow is fail/);
    expect(fake.count()).toBe(0);
  });

  it('refuses, without sending, when even the kept messages do not fit', async () => {
    const { router: r } = router();
    const error = await llmError(r.complete(request([{ role: 'system', content: 'rule '.repeat(2000) }, { role: 'user', content: 'go' }])));
    expect(error.errorClass).toBe('context_window');
    expect(error.message).toContain('even the kept messages');
    expect(fake.count()).toBe(0);
  });
});

describe('embeddings micro-batching', () => {
  let mock: MockLlmServer;
  beforeAll(async () => {
    mock = await startMockLlm({ scenariosDir: join(REPO_ROOT, 'mock-llm/scenarios') });
  });
  afterAll(async () => {
    await mock?.close();
  });
  afterEach(() => mock.reset());

  function router(batch: { windowMs: number; maxInputs: number }, price = 0) {
    const policy = parseModelPolicy({
      default: 'mock',
      models: { vec: { provider: 'mock', model: 'mock-embed', type: 'embedding', inputPerMTok: price } },
      embeddings: { model: 'vec', batch },
    });
    const store = new MemoryRouterStore();
    return { router: new ModelRouter({ policy, env: { MOCK_LLM_URL: mock.url }, timeoutMs: 5_000, stores: store }), store };
  }

  it('answers the official openai client in OpenAI shape', async () => {
    const client = new OpenAI({ baseURL: mock.url, apiKey: 'test', maxRetries: 0 });
    const res = await client.embeddings.create({ model: 'mock-embed', input: ['alpha', 'beta'] });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    // The client asks for base64 float32 and decodes it.
    res.data[0]?.embedding.forEach((v, i) => expect(v).toBeCloseTo(mockEmbedding('alpha')[i] ?? NaN, 6));
    expect(Math.hypot(...(res.data[1]?.embedding ?? []))).toBeCloseTo(1, 5);
    expect(res.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    await expect(client.embeddings.create({ model: 'mock-embed', input: [] })).rejects.toMatchObject({ status: 400, param: 'input' });
  });

  it('sends requests that arrive within the window upstream as one batch and splits the answer back', async () => {
    const { router: r, store } = router({ windowMs: 30, maxInputs: 64 });
    const inputs = [['one'], ['two', 'three'], ['four'], ['five', 'six', 'seven']];
    const results = await Promise.all(inputs.map((input, i) => r.embed({ tenantId: `t${i % 2}`, input })));
    expect(mock.embeddingStats()).toEqual({ requests: 1, inputs: 7, batchSizes: [7] });
    results.forEach((result, i) => {
      expect(result.vectors).toEqual(inputs[i]?.map((text) => mockEmbedding(text)));
      expect(result.batchedWith).toBe(4);
    });
    // The batch's billed tokens (the mock bills ceil(chars / 4) an input) are split between the requests.
    expect(results.map((res) => res.inputTokens)).toEqual([1, 3, 1, 4]);
    expect(store.rows.map((row) => [row.kind, row.tenantId, row.outcome])).toEqual([
      ['embedding', 't0', 'ok'],
      ['embedding', 't1', 'ok'],
      ['embedding', 't0', 'ok'],
      ['embedding', 't1', 'ok'],
    ]);
  });

  it('starts a new batch when one is full, never splitting a request', async () => {
    const { router: r } = router({ windowMs: 30, maxInputs: 4 });
    await Promise.all([r.embed({ tenantId: 't', input: ['a', 'b'] }), r.embed({ tenantId: 't', input: ['c', 'd'] }), r.embed({ tenantId: 't', input: ['e', 'f'] })]);
    expect(mock.embeddingStats().batchSizes).toEqual([4, 2]);
  });

  it('sends requests further apart than the window separately', async () => {
    const { router: r } = router({ windowMs: 1, maxInputs: 64 });
    await r.embed({ tenantId: 't', input: 'first' });
    await r.embed({ tenantId: 't', input: 'second' });
    expect(mock.embeddingStats().requests).toBe(2);
  });

  it('refuses empty input and a chat model as bad requests', async () => {
    const { router: r } = router({ windowMs: 1, maxInputs: 8 });
    expect((await llmError(r.embed({ tenantId: 't', input: [] }))).errorClass).toBe('bad_request');
    expect((await llmError(r.embed({ tenantId: 't', model: 'mock', input: 'x' }))).message).toBe('"mock" is not an embedding model of the policy');
  });

  it('splits billed tokens in proportion, in integers that add up', () => {
    expect(apportion(10, [1, 1, 1])).toEqual([4, 3, 3]);
    expect(apportion(7, [2, 0, 5])).toEqual([2, 0, 5]);
    expect(apportion(5, [0, 0])).toEqual([5, 0]);
  });
});

/**
 * The Anthropic provider against a local fake of the Messages API (real HTTP):
 * the transcript conversion the API insists on (system prompt, alternating
 * roles, tool_use / tool_result pairs), tool use and usage with prompt-cache
 * tokens, streaming, errors in the API's shape, and pricing of cache tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../config/index.js';
import { parseModelPolicy, type ModelConfig } from '../../router/model-policy.js';
import { callCostUsd } from '../../router/pricing.js';
import { AnthropicProvider, ANTHROPIC_VERSION, toAnthropicMessages } from '../../router/providers/anthropic.js';
import { ModelRouter } from '../../router/router.js';
import type { ChatMessage } from '../../router/types.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { llmError } from '../support/router-fixtures.js';

let fake: FakeAnthropic;
beforeAll(async () => {
  fake = await startFakeAnthropic('sk-ant-test');
});
afterAll(async () => {
  await fake?.close();
});

function provider(apiKey = 'sk-ant-test'): AnthropicProvider {
  return new AnthropicProvider({ name: 'anthropic', baseUrl: `${fake.url}/v1`, apiKey: () => apiKey, timeoutMs: 5_000 });
}

/** A session transcript with tool calls, their results (one malformed call), and a follow-up. */
const TRANSCRIPT: ChatMessage[] = [
  { role: 'system', content: 'You are a careful agent.' },
  { role: 'user', content: 'List the files, then read a.txt' },
  {
    role: 'assistant',
    content: 'Looking.',
    tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'list_files', arguments: '{"path":"."}' } },
      { id: 'call_2', type: 'function', function: { name: 'read_file', arguments: '{"path": "a.txt"' } },
    ],
  },
  { role: 'tool', tool_call_id: 'call_1', content: '{"ok":true,"files":["a.txt"]}' },
  { role: 'tool', tool_call_id: 'call_2', content: '{"ok":false,"error":"arguments are not JSON"}' },
  { role: 'user', content: 'And now?' },
];
const TOOLS = [{ type: 'function', function: { name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } } }];

describe('AnthropicProvider', () => {
  it('sends a valid Messages request and reads tool use and usage with cache tokens', async () => {
    fake.script({
      text: 'Reading it.',
      toolUses: [{ id: 'toolu_9', name: 'read_file', input: { path: 'a.txt' } }],
      usage: { input_tokens: 200, output_tokens: 40, cache_read_input_tokens: 1000, cache_creation_input_tokens: 300 },
    });
    const answer = await provider().complete({ model: 'claude-x', messages: TRANSCRIPT, tools: TOOLS, maxOutputTokens: 512, temperature: 0 });
    const sent = fake.requests.at(-1);
    expect(sent?.headers['x-api-key']).toBe('sk-ant-test');
    expect(sent?.headers['anthropic-version']).toBe(ANTHROPIC_VERSION);
    expect(sent?.body).toMatchObject({ model: 'claude-x', max_tokens: 512, temperature: 0, system: 'You are a careful agent.' });
    expect(sent?.body.tools).toEqual([{ name: 'read_file', description: 'Read a file', input_schema: TOOLS[0]?.function.parameters }]);
    // Both tool results in one user turn, answering the assistant's tool_use blocks; the malformed arguments kept as text.
    expect(sent?.body.messages?.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(sent?.body.messages?.[1]?.content).toEqual([
      { type: 'text', text: 'Looking.' },
      { type: 'tool_use', id: 'call_1', name: 'list_files', input: { path: '.' } },
      { type: 'tool_use', id: 'call_2', name: 'read_file', input: { _raw: '{"path": "a.txt"' } },
    ]);
    expect(sent?.body.messages?.[2]?.content).toEqual([
      { type: 'tool_result', tool_use_id: 'call_1', content: '{"ok":true,"files":["a.txt"]}' },
      { type: 'tool_result', tool_use_id: 'call_2', content: '{"ok":false,"error":"arguments are not JSON"}' },
      { type: 'text', text: 'And now?' },
    ]);
    expect(answer).toEqual({
      content: 'Reading it.',
      toolCalls: [{ id: 'toolu_9', name: 'read_file', arguments: '{"path":"a.txt"}' }],
      finishReason: 'tool_calls',
      usage: { inputTokens: 1500, outputTokens: 40, cachedInputTokens: 1000, cacheWriteInputTokens: 300 },
    });
  });

  it('reads a streamed answer: text and tool input deltas, usage from start and delta events', async () => {
    fake.script({ text: 'Streaming it.', toolUses: [{ id: 'toolu_1', name: 'shell', input: { command: 'ls -la' } }], usage: { input_tokens: 50, output_tokens: 25 } });
    const deltas: string[] = [];
    const answer = await provider().complete({ model: 'claude-x', messages: TRANSCRIPT, stream: true, onDelta: (t) => deltas.push(t) });
    expect(fake.requests.at(-1)?.body.stream).toBe(true);
    expect(deltas.join('')).toBe('Streaming it.');
    expect(answer).toEqual({
      content: 'Streaming it.',
      toolCalls: [{ id: 'toolu_1', name: 'shell', arguments: '{"command":"ls -la"}' }],
      finishReason: 'tool_calls',
      usage: { inputTokens: 50, outputTokens: 25, cachedInputTokens: 0, cacheWriteInputTokens: 0 },
    });
  });

  it.each([
    [{ status: 429, type: 'rate_limit_error', message: 'slow down', retryAfter: '3' }, 'rate_limit', true, 3000],
    [{ status: 529, type: 'overloaded_error', message: 'Overloaded' }, 'server_error', true, undefined],
    [{ status: 400, type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' }, 'context_window', false, undefined],
  ])('classifies a %j error', async (error, errorClass, retryable, retryAfterMs) => {
    fake.script({ error });
    const err = await llmError(provider().complete({ model: 'claude-x', messages: TRANSCRIPT }));
    expect(err).toMatchObject({ errorClass, retryable, details: { status: error.status } });
    expect(err.details.retryAfterMs).toBe(retryAfterMs);
    expect(err.message).toContain(error.message);
  });

  it('classifies a wrong key as a non-retryable auth error', async () => {
    const err = await llmError(provider('sk-wrong').complete({ model: 'claude-x', messages: TRANSCRIPT }));
    expect(err).toMatchObject({ errorClass: 'auth', retryable: false, details: { status: 401 } });
  });

  it('classifies an error event inside a stream', async () => {
    fake.script({ streamError: { type: 'overloaded_error', message: 'Overloaded' } });
    const err = await llmError(provider().complete({ model: 'claude-x', messages: TRANSCRIPT, stream: true }));
    expect(err).toMatchObject({ errorClass: 'server_error', retryable: true, details: { partial: false } });
  });

  it('merges consecutive turns of one role and drops empty texts, as the API requires', () => {
    const { system, messages } = toAnthropicMessages([
      { role: 'system', content: 'a' },
      { role: 'system', content: 'b' },
      { role: 'user', content: 'one' },
      { role: 'user', content: 'two' },
      { role: 'assistant', content: '' },
      { role: 'assistant', content: 'answer' },
    ]);
    expect(system).toBe('a\n\nb');
    expect(messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'answer' }] },
    ]);
  });
});

describe('Anthropic through the router', () => {
  let openai: FakeOpenAi;
  beforeAll(async () => {
    openai = await startFakeOpenAi();
  });
  afterAll(async () => {
    await openai?.close();
  });

  it('prices cache reads and writes from the table, and falls back when a stream is overloaded before its first token', async () => {
    const policy = parseModelPolicy({
      default: 'sonnet',
      providers: { fallback: { kind: 'openai-compatible', baseUrl: openai.url } },
      models: {
        sonnet: { provider: 'anthropic', model: 'claude-sonnet', inputPerMTok: 3, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, outputPerMTok: 15, contextWindow: 200_000, stream: true },
        backup: { provider: 'fallback', model: 'gpt-backup', inputPerMTok: 1, outputPerMTok: 1 },
      },
      fallbacks: { server_error: ['backup'] },
      retries: { maxRetries: 0, initialDelayMs: 0, maxDelayMs: 0, retryOn: [] },
    });
    const router = new ModelRouter({ policy, env: { ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: new Secret('sk-ant-test') }, timeoutMs: 5_000 });

    fake.script({ text: 'cached', usage: { input_tokens: 1_000, output_tokens: 100, cache_read_input_tokens: 10_000, cache_creation_input_tokens: 2_000 } });
    const answer = await router.complete({ tenantId: 't', messages: TRANSCRIPT });
    // 1000 × $3 + 10000 × $0.30 + 2000 × $3.75 + 100 × $15, per million tokens.
    expect(answer.costUsd).toBe(0.015);
    expect(answer.costUsd).toBe(callCostUsd(policy.models.sonnet as ModelConfig, answer.usage));

    fake.script({ streamError: { type: 'overloaded_error', message: 'Overloaded' } });
    const fallback = await router.complete({ tenantId: 't', messages: TRANSCRIPT });
    expect(fallback).toMatchObject({ model: 'backup', fallbackUsed: true, content: 'echo: And now?' });
    expect(openai.count()).toBe(1);
  });
});

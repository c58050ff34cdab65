/**
 * The model router: model policy loading and references, model choice, call
 * pricing, error classification, and the OpenAI-compatible provider against a
 * real local HTTP server (port 0) and against the mock LLM.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, Secret } from '../../config/index.js';
import { startMockLlm } from '../../mock-llm/server.js';
import { classifyStatus, LlmError } from '../../router/errors.js';
import { BUILTIN_MODELS, loadModelPolicy, parseModelPolicy, type ModelConfig, type ResolvedModelPolicy } from '../../router/model-policy.js';
import { OpenAiCompatibleProvider, type OpenAiCompatibleOptions } from '../../router/providers/openai-compatible.js';
import { maxCallCostUsd } from '../../router/pricing.js';
import { callCostUsd, ModelRouter } from '../../router/router.js';
import type { ChatRequest } from '../../router/types.js';
import { llmError } from '../support/router-fixtures.js';

function resolve(input: unknown, file = 'model_policy.yaml'): ResolvedModelPolicy {
  return parseModelPolicy(input, file);
}

/** Request type → model of the routes, in order. */
function byType(policy: ResolvedModelPolicy): [string | undefined, string][] {
  return policy.routes.map((r) => [r.match.requestType?.join('|'), r.model]);
}

// ---------------------------------------------------------------------------

describe('model policy', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kortix-router-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the seed shape and resolves it through the built-in providers and models', () => {
    const file = join(dir, 'seed.yaml');
    writeFileSync(file, 'default: mock\npolicies:\n  - type: simple\n    model: local_llm\n  - type: research\n    model: openai\n');
    const policy = loadModelPolicy(file);
    expect(policy.defaultRoute.model).toBe('mock');
    expect(byType(policy)).toEqual([
      ['simple', 'local_llm'],
      ['research', 'openai'],
    ]);
    expect(policy.models.openai).toEqual(BUILTIN_MODELS.openai);
    expect(policy.providers[policy.models.local_llm!.provider]).toMatchObject({ kind: 'openai-compatible', baseUrlEnv: 'LOCAL_LLM_URL' });
  });

  it('loads the shipped router/model_policy.yaml: the mock LLM by default, routes for typed requests', () => {
    const policy = loadModelPolicy(join(REPO_ROOT, 'router/model_policy.yaml'));
    expect(policy.defaultRoute.model).toBe('mock');
    expect(policy.routes.length).toBeGreaterThan(3);
    expect(policy.routes.every((r) => r.match.requestType !== undefined)).toBe(true);
  });

  it('merges listed providers and models over the built-in ones', () => {
    const policy = resolve({
      providers: { vllm: { kind: 'openai-compatible', baseUrl: 'http://gpu:8000/v1' } },
      models: { big: { provider: 'vllm', model: 'llama-70b', inputPerMTok: 1 }, mock: { provider: 'mock', model: 'mock', outputPerMTok: 9 } },
      default: 'big',
    });
    expect(policy.models.big).toEqual({
      provider: 'vllm',
      model: 'llama-70b',
      type: 'chat',
      inputPerMTok: 1,
      outputPerMTok: 0,
      contextWindow: 8192,
      maxOutputTokens: 1024,
      tier: 'medium',
      stream: false,
    });
    expect(policy.models.mock?.outputPerMTok).toBe(9);
    expect(policy.models.openai).toEqual(BUILTIN_MODELS.openai);
    expect(policy.providers.vllm).toMatchObject({ baseUrl: 'http://gpu:8000/v1', passMetadata: false });
    expect(policy.providers.mock).toMatchObject({ kind: 'mock', passMetadata: true });
  });

  it('refuses unknown model and provider references, naming each path and the file', () => {
    expect(() =>
      resolve(
        { models: { orphan: { provider: 'nowhere', model: 'x' } }, default: 'ghost', policies: [{ type: 'simple', model: 'mock' }, { type: 'big', model: 'phantom' }] },
        'bad-models.yaml',
      ),
    ).toThrow(
      [
        'Invalid model policy bad-models.yaml:',
        '  - models.orphan.provider: unknown provider "nowhere"',
        '  - default: unknown model "ghost"',
        '  - policies.1.model: unknown model "phantom"',
      ].join('\n'),
    );
  });

  it('refuses a bad file naming the line and path', () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'default: mock\npolicies:\n  - type: simple\n    modle: local_llm\n');
    expect(() => loadModelPolicy(file)).toThrow(`${file}:4: policies.0.modle: unknown key`);
  });

  it('refuses a provider without baseUrl or baseUrlEnv', () => {
    expect(() => resolve({ providers: { p: { kind: 'openai-compatible' } }, default: 'mock' })).toThrow(/providers\.p: needs baseUrl or baseUrlEnv/);
  });
});

describe('ModelRouter.choose', () => {
  const router = new ModelRouter({ policy: loadModelPolicy(join(REPO_ROOT, 'router/model_policy.yaml')), env: {}, timeoutMs: 1000 });

  it('prefers an explicit model over the request type', () => {
    expect(router.choose({ model: 'openai', requestType: 'simple' })).toBe('openai');
  });

  it('maps a request type to its model', () => {
    expect(router.choose({ requestType: 'simple' })).toBe('local_llm');
    expect(router.choose({ requestType: 'high_cost' })).toBe('claude_sonnet');
    expect(router.choose({ requestType: 'research' })).toBe('gpt_4o');
    expect(router.choose({ requestType: 'simple', tier: 'medium' })).toBe('openai');
  });

  it('falls back to the default for no or an unknown request type', () => {
    expect(router.choose({})).toBe('mock');
    expect(router.choose({ requestType: 'poetry' })).toBe('mock');
  });

  it('refuses an unknown explicit model as a non-retryable bad request', () => {
    let error: unknown;
    try {
      router.choose({ model: 'gpt-99' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ errorClass: 'bad_request', retryable: false });
    expect((error as LlmError).message).toMatch(/unknown model "gpt-99"; known: .*\bopenai\b/);
  });
});

describe('callCostUsd', () => {
  const openai = BUILTIN_MODELS.openai as ModelConfig; // 0.15 in, 0.075 cached, 0.6 out per MTok

  it('prices input and output tokens per million', () => {
    expect(callCostUsd(openai, { inputTokens: 1_000_000, outputTokens: 1_000_000, cachedInputTokens: 0 })).toBe(0.75);
    expect(callCostUsd(openai, { inputTokens: 2_000, outputTokens: 500, cachedInputTokens: 0 })).toBe(0.0006);
  });

  it('prices cached input tokens at the cached price', () => {
    expect(callCostUsd(openai, { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 400_000 })).toBe(0.12);
  });

  it('never counts more cached tokens than input tokens', () => {
    expect(callCostUsd(openai, { inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 5_000_000 })).toBe(0.075);
  });

  it('charges cached tokens at the input price when the model has no cached price', () => {
    const model: ModelConfig = { ...(BUILTIN_MODELS.openai as ModelConfig), cachedInputPerMTok: undefined, inputPerMTok: 2, outputPerMTok: 8 };
    expect(callCostUsd(model, { inputTokens: 1_000_000, outputTokens: 250_000, cachedInputTokens: 1_000_000 })).toBe(4);
  });

  it('prices prompt-cache writes at their own price, and never more written and read tokens than input', () => {
    const sonnet: ModelConfig = { ...(BUILTIN_MODELS.anthropic as ModelConfig), inputPerMTok: 3, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, outputPerMTok: 15 };
    // 500k plain at $3, 300k read at $0.30, 200k written at $3.75, 100k out at $15.
    expect(callCostUsd(sonnet, { inputTokens: 1_000_000, outputTokens: 100_000, cachedInputTokens: 300_000, cacheWriteInputTokens: 200_000 })).toBe(3.84);
    expect(callCostUsd(sonnet, { inputTokens: 100, outputTokens: 0, cachedInputTokens: 80, cacheWriteInputTokens: 500 })).toBe(0.000099);
  });

  it('reserves the most a call can cost: the prompt estimate with its margin at the highest input price, plus max_tokens', () => {
    const model: ModelConfig = { ...(BUILTIN_MODELS.openai as ModelConfig), inputPerMTok: 2, cacheWritePerMTok: 2.5, outputPerMTok: 10, maxOutputTokens: 1000 };
    // ceil(1000 × 1.1) = 1100 prompt tokens at $2.50 + 1000 at $10, per MTok.
    expect(maxCallCostUsd(model, 1000, 1.1)).toBe(0.01275);
    expect(maxCallCostUsd(BUILTIN_MODELS.local_llm as ModelConfig, 5000, 1.1)).toBe(0);
  });

  it('costs nothing on a zero-price model', () => {
    expect(callCostUsd(BUILTIN_MODELS.mock as ModelConfig, { inputTokens: 123_456, outputTokens: 7_890, cachedInputTokens: 100 })).toBe(0);
  });
});

describe('classifyStatus', () => {
  it.each([
    [429, '', 'rate_limit'],
    [408, '', 'timeout'],
    [504, '', 'timeout'],
    [401, '', 'auth'],
    [403, '', 'auth'],
    [500, '', 'server_error'],
    [503, 'context length', 'server_error'],
    [400, "This model's maximum context length is 8192 tokens", 'context_window'],
    [400, '{"error":{"code":"context_length_exceeded"}}', 'context_window'],
    [413, 'too many tokens', 'context_window'],
    [400, 'bad parameter', 'bad_request'],
    [404, 'model not found', 'model_missing'], // its own class: another model may serve (fallbacks.model_missing), a retry never
  ] as const)('classifies %i %j as %s', (status, body, errorClass) => {
    expect(classifyStatus(status, body)).toBe(errorClass);
  });
});

// ---------------------------------------------------------------------------
// A local OpenAI-compatible server

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const TOOL_ANSWER = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  choices: [
    {
      index: 0,
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_abc', type: 'function', function: { name: 'shell', arguments: '{"command":"ls -la"}' } },
          { type: 'function', function: { name: 'read_file', arguments: '{"path": "a.txt"' } },
        ],
      },
    },
  ],
  usage: { prompt_tokens: 1200, completion_tokens: 40, total_tokens: 1240, prompt_tokens_details: { cached_tokens: 1000 } },
};

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

describe('OpenAiCompatibleProvider', () => {
  let server: Server;
  let baseUrl: string;
  let handler: Handler;
  const received: Received[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        handler(req, res);
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;
  });

  afterEach(() => {
    received.length = 0;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  });

  function provider(options: Partial<OpenAiCompatibleOptions> = {}): OpenAiCompatibleProvider {
    return new OpenAiCompatibleProvider({ name: 'local', baseUrl, timeoutMs: 5_000, passMetadata: false, ...options });
  }

  const request: ChatRequest = {
    model: 'test-model',
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'list the files' },
    ],
    tools: [{ type: 'function', function: { name: 'shell', parameters: { type: 'object' } } }],
    metadata: { scenario: 'safe-shell' },
  };

  it('posts to /chat/completions and parses tool calls and usage', async () => {
    handler = (_req, res) => json(res, 200, TOOL_ANSWER);
    const answer = await provider().complete(request);
    expect(answer).toEqual({
      content: null,
      toolCalls: [
        { id: 'call_abc', name: 'shell', arguments: '{"command":"ls -la"}' },
        { id: 'call_1', name: 'read_file', arguments: '{"path": "a.txt"' },
      ],
      finishReason: 'tool_calls',
      usage: { inputTokens: 1200, outputTokens: 40, cachedInputTokens: 1000 },
    });
    expect(received).toHaveLength(1);
    const [sent] = received;
    expect(sent).toMatchObject({ method: 'POST', url: '/v1/chat/completions' });
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.body).toEqual({ model: 'test-model', messages: request.messages, tools: request.tools, tool_choice: 'auto' });
  });

  it('parses a plain answer and fills missing usage with zeros', async () => {
    handler = (_req, res) => json(res, 200, { choices: [{ message: { content: 'hello' } }] });
    expect(await provider().complete({ model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [] })).toEqual({
      content: 'hello',
      toolCalls: [],
      finishReason: 'stop',
      usage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 },
    });
    expect(received[0]?.body).not.toHaveProperty('tools');
    expect(received[0]?.body).not.toHaveProperty('tool_choice');
  });

  it('sends the key from the apiKey function as a bearer token, asking for it on each call', async () => {
    handler = (_req, res) => json(res, 200, TOOL_ANSWER);
    let n = 0;
    const p = provider({ apiKey: () => `sk-local-${++n}` });
    await p.complete(request);
    await p.complete(request);
    expect(received.map((r) => r.headers.authorization)).toEqual(['Bearer sk-local-1', 'Bearer sk-local-2']);
  });

  it('sends no authorization header without an apiKey function', async () => {
    handler = (_req, res) => json(res, 200, TOOL_ANSWER);
    await provider().complete(request);
    expect(received[0]?.headers.authorization).toBeUndefined();
  });

  it('sends metadata only when passMetadata is true', async () => {
    handler = (_req, res) => json(res, 200, TOOL_ANSWER);
    await provider({ passMetadata: false }).complete(request);
    await provider({ passMetadata: true }).complete(request);
    expect(received[0]?.body).not.toHaveProperty('metadata');
    expect(received[1]?.body.metadata).toEqual({ scenario: 'safe-shell' });
  });

  it('classifies 429 as a retryable rate limit with Retry-After in ms', async () => {
    handler = (_req, res) => json(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '2' });
    const error = await llmError(provider().complete(request));
    expect(error).toMatchObject({ errorClass: 'rate_limit', retryable: true });
    expect(error.details).toEqual({ provider: 'local', model: 'test-model', status: 429, retryAfterMs: 2000 });
    expect(error.message).toContain('local answered 429: {"error":{"message":"slow down"}}');
  });

  it('reads an HTTP-date Retry-After as the time until then', async () => {
    handler = (_req, res) =>
      json(res, 503, { error: { message: 'later' } }, { 'retry-after': new Date(Date.now() + 60_000).toUTCString() });
    const error = await llmError(provider().complete(request));
    expect(error.errorClass).toBe('server_error');
    expect(error.details.retryAfterMs).toBeGreaterThan(55_000);
    expect(error.details.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('classifies 500 as a retryable server error', async () => {
    handler = (_req, res) => json(res, 500, { error: { message: 'boom' } });
    const error = await llmError(provider().complete(request));
    expect(error).toMatchObject({ errorClass: 'server_error', retryable: true, details: { status: 500 } });
    expect(error.details.retryAfterMs).toBeUndefined();
  });

  it('classifies a 400 about the context length as a non-retryable context_window', async () => {
    handler = (_req, res) =>
      json(res, 400, { error: { message: "This model's maximum context length is 8192 tokens.", code: 'context_length_exceeded' } });
    const error = await llmError(provider().complete(request));
    expect(error).toMatchObject({ errorClass: 'context_window', retryable: false, details: { status: 400 } });
  });

  it('classifies 401 as a non-retryable auth error', async () => {
    handler = (_req, res) => json(res, 401, { error: { message: 'invalid api key' } });
    const error = await llmError(provider({ apiKey: () => 'sk-wrong' }).complete(request));
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false, details: { status: 401 } });
  });

  it('times out on a server that never answers', async () => {
    handler = () => undefined;
    const started = performance.now();
    const error = await llmError(provider({ timeoutMs: 150 }).complete(request));
    expect(error).toMatchObject({ errorClass: 'timeout', retryable: true });
    expect(error.message).toBe('local: no answer within 150 ms');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('reports a refused connection as unavailable', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const error = await llmError(provider({ baseUrl: `http://127.0.0.1:${port}/v1` }).complete(request));
    expect(error).toMatchObject({ errorClass: 'unavailable', retryable: true, details: { provider: 'local' } });
  });

  it('reports a 200 with a body that is not JSON as a server error', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>gateway</html>');
    };
    const error = await llmError(provider().complete(request));
    expect(error.errorClass).toBe('server_error');
    expect(error.message).toContain('not JSON: <html>gateway</html>');
  });

  it('reports a 200 without choices as a server error', async () => {
    handler = (_req, res) => json(res, 200, { choices: [] });
    expect((await llmError(provider().complete(request))).errorClass).toBe('server_error');
  });

  it('routes an openai-kind model through its provider with the Secret key and prices the answer', async () => {
    handler = (_req, res) => json(res, 200, TOOL_ANSWER);
    const router = new ModelRouter({
      policy: resolve({ default: 'mock' }),
      env: { OPENAI_BASE_URL: baseUrl, OPENAI_API_KEY: new Secret('sk-from-config') },
      timeoutMs: 5_000,
    });
    const answer = await router.complete({ tenantId: 't', sessionId: 's', model: 'openai', messages: request.messages });
    expect(received[0]?.headers.authorization).toBe('Bearer sk-from-config');
    expect(received[0]?.body.model).toBe('gpt-4o-mini');
    expect(answer).toMatchObject({ model: 'openai', provider: 'openai', providerModel: 'gpt-4o-mini' });
    // 200 uncached at 0.15, 1000 cached at 0.075, 40 out at 0.6 (USD per MTok).
    expect(answer.costUsd).toBe(0.000129);
  });

  it('refuses a call when the provider key is not configured, without sending it', async () => {
    handler = (_req, res) => json(res, 200, TOOL_ANSWER);
    const router = new ModelRouter({ policy: resolve({ default: 'openai' }), env: { OPENAI_BASE_URL: baseUrl }, timeoutMs: 5_000 });
    const error = await llmError(router.complete({ tenantId: 't', sessionId: 's', messages: request.messages }));
    expect(error).toMatchObject({ errorClass: 'auth', message: 'provider openai: OPENAI_API_KEY is not set' });
    expect(received).toHaveLength(0);
  });

  it('refuses an anthropic call without ANTHROPIC_API_KEY as a non-retryable auth error', async () => {
    const router = new ModelRouter({ policy: resolve({ default: 'anthropic' }), env: { ANTHROPIC_BASE_URL: baseUrl }, timeoutMs: 5_000 });
    const error = await llmError(router.complete({ tenantId: 't', sessionId: 's', messages: request.messages }));
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false, message: 'provider anthropic: ANTHROPIC_API_KEY is not set' });
    expect(received).toHaveLength(0);
  });
});

describe('ModelRouter.complete against the mock LLM', () => {
  it('plays the safe-shell scenario through the mock model at no cost', async () => {
    const server = await startMockLlm({ scenariosDir: join(REPO_ROOT, 'mock-llm/scenarios'), port: 0 });
    try {
      const router = new ModelRouter({ policy: resolve({ default: 'local_llm' }), env: { MOCK_LLM_URL: server.url }, timeoutMs: 5_000 });
      const answer = await router.complete({
        tenantId: 't',
        sessionId: 's',
        model: 'mock',
        messages: [{ role: 'user', content: 'anything at all' }],
        metadata: { scenario: 'safe-shell' },
      });
      expect(answer.toolCalls).toHaveLength(1);
      expect(answer.toolCalls[0]).toMatchObject({ id: 'call_0_0', name: 'shell' });
      expect(JSON.parse(answer.toolCalls[0]!.arguments)).toEqual({ command: 'echo hello from $(whoami) in $(pwd)' });
      expect(answer).toMatchObject({ model: 'mock', provider: 'mock', providerModel: 'mock', costUsd: 0, finishReason: 'tool_calls' });
      expect(answer.usage.inputTokens).toBeGreaterThan(0);
      expect(answer.latencyMs).toBeGreaterThanOrEqual(0);
      expect(server.stats().byScenario).toEqual({ 'safe-shell': 1 });
    } finally {
      await server.close();
    }
  });
});

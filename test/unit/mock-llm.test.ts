/**
 * The mock LLM driven by the official `openai` client over real HTTP (port 0),
 * with the shipped scenarios and with inline ones.
 */
import { join } from 'node:path';
import OpenAI, { APIError } from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { createMockLlmApp, startMockLlm, type MockLlmServer, type ScenarioInput } from '../../mock-llm/server.js';

const SCENARIOS_DIR = join(REPO_ROOT, 'mock-llm/scenarios');

const INLINE: ScenarioInput[] = [
  {
    name: 'two-tools',
    match: '^stream two tools$',
    turns: [
      {
        content: 'Working on it.',
        tool_calls: [
          { name: 'write_file', arguments: { path: 'a.txt', content: 'turn {{turn}}: {{user}}' } },
          { name: 'read_file', arguments: { path: 'a.txt' } },
        ],
      },
      { content: 'tool={{tool}} ok={{tool.ok}} nested={{tool.meta.size}} missing=[{{tool.nope}}] turn={{turn}}' },
    ],
  },
  { name: 'slow', turns: [{ delay_ms: 250, content: 'late' }] },
  { name: 'always-down', turns: [{ error: { status: 503, message: 'down for good', type: 'server_error' } }] },
];

let shipped: MockLlmServer;
let inline: MockLlmServer;
let client: OpenAI;
let inlineClient: OpenAI;

beforeAll(async () => {
  shipped = await startMockLlm({ scenariosDir: SCENARIOS_DIR, port: 0 });
  inline = await startMockLlm({ scenarios: INLINE, port: 0 });
  client = new OpenAI({ baseURL: shipped.url, apiKey: 'test', maxRetries: 0 });
  inlineClient = new OpenAI({ baseURL: inline.url, apiKey: 'test', maxRetries: 0 });
});

afterAll(async () => {
  await Promise.all([shipped?.close(), inline?.close()]);
});

afterEach(() => {
  shipped.reset();
  inline.reset();
});

function user(content: string): ChatCompletionMessageParam {
  return { role: 'user', content };
}

/** The APIError a call rejects with (fails the test if it resolves or throws something else). */
async function apiError(call: Promise<unknown>): Promise<APIError> {
  const error = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(APIError);
  return error as APIError;
}

function functionCalls(calls: readonly unknown[] | undefined): ChatCompletionMessageFunctionToolCall[] {
  return (calls ?? []) as ChatCompletionMessageFunctionToolCall[];
}

/** Plays one assistant turn plus a tool result for each of its tool calls. */
async function toolTurn(
  c: OpenAI,
  messages: ChatCompletionMessageParam[],
  toolResult: string,
  extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {},
): Promise<OpenAI.Chat.ChatCompletion> {
  const response = await c.chat.completions.create({ model: 'mock', messages, ...extra });
  const message = response.choices[0]!.message;
  messages.push({ role: 'assistant', content: message.content, tool_calls: message.tool_calls });
  for (const call of message.tool_calls ?? []) {
    messages.push({ role: 'tool', tool_call_id: call.id, content: toolResult });
  }
  return response;
}

describe('startMockLlm', () => {
  it('listens on a free port and exposes a /v1 base URL and the scenario names', () => {
    expect(shipped.port).toBeGreaterThan(0);
    expect(shipped.url).toBe(`http://127.0.0.1:${shipped.port}/v1`);
    expect(shipped.scenarios).toEqual([
      'approval-shell',
      'artifact-continue',
      'artifact-files',
      'artifact-output',
      'artifact-save',
      'browser-walk',
      'cancel-in-model',
      'default',
      'flaky',
      'hold-sandbox',
      'hostile-bytes',
      'large-values',
      'long-model',
      'look-during-model',
      'malformed-tool-call',
      'model-down',
      'multi-step',
      'network-approval',
      'parallel-approvals',
      'park-abs-link',
      'park-gate',
      'park-keep',
      'safe-shell',
      'shell-from-message',
      'slow-model',
      'slow-steps',
      'slow-tool',
      'walkthrough',
    ]);
  });
});

describe('non-streaming answers', () => {
  it('answers a final message with id, model echo, finish_reason and usage', async () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are terse.' },
      user('hi there, mock'),
    ];
    const response = await client.chat.completions.create({ model: 'gpt-test', messages });
    expect(response.id).toMatch(/^chatcmpl-mock-\d+$/);
    expect(response.object).toBe('chat.completion');
    expect(response.model).toBe('gpt-test');
    expect(response.created).toBeCloseTo(Date.now() / 1000, -1);
    const choice = response.choices[0]!;
    expect(choice.message).toMatchObject({ role: 'assistant', content: 'You said: hi there, mock' });
    expect(choice.message.tool_calls).toBeUndefined();
    expect(choice.finish_reason).toBe('stop');
    const promptChars = 'You are terse.'.length + 'hi there, mock'.length;
    expect(response.usage).toEqual({
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: Math.ceil('You said: hi there, mock'.length / 4),
      total_tokens: Math.ceil(promptChars / 4) + Math.ceil('You said: hi there, mock'.length / 4),
    });
  });

  it('answers tool calls with deterministic ids, names and JSON arguments', async () => {
    const response = await client.chat.completions.create({
      model: 'mock',
      messages: [user('Please say hello from the sandbox')],
    });
    const choice = response.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const [call] = functionCalls(choice.message.tool_calls);
    expect(call).toMatchObject({ id: 'call_0_0', type: 'function', function: { name: 'shell' } });
    expect(JSON.parse(call!.function.arguments)).toEqual({ command: 'echo hello from $(whoami) in $(pwd)' });
  });

  it('plays a two-turn conversation and templates the tool output into the final answer', async () => {
    const messages: ChatCompletionMessageParam[] = [user('Could you clean up the build cache?')];
    const first = await toolTurn(
      client,
      messages,
      JSON.stringify({ ok: true, exit_code: 0, stdout: 'cache cleared at 2025-01-01T00:00:00Z\n', stderr: '' }),
    );
    const [call] = functionCalls(first.choices[0]!.message.tool_calls);
    expect(JSON.parse(call!.function.arguments).command).toContain('tee /workspace/reports/cleanup.txt');

    const second = await client.chat.completions.create({ model: 'mock', messages });
    expect(second.choices[0]!.message.content).toBe('Done. The sandbox said: cache cleared at 2025-01-01T00:00:00Z\n');
    expect(second.choices[0]!.finish_reason).toBe('stop');
    expect(shipped.stats().byScenario).toEqual({ walkthrough: 2 });
  });

  it('templates {{turn}}, {{user}}, {{tool}} and {{tool.<field>}} (missing fields are empty)', async () => {
    const messages: ChatCompletionMessageParam[] = [user('stream two tools')];
    const first = await toolTurn(inlineClient, messages, '{"ok":true,"meta":{"size":12}}');
    const calls = functionCalls(first.choices[0]!.message.tool_calls);
    expect(first.choices[0]!.message.content).toBe('Working on it.');
    expect(calls.map((c) => c.id)).toEqual(['call_0_0', 'call_0_1']);
    expect(JSON.parse(calls[0]!.function.arguments)).toEqual({ path: 'a.txt', content: 'turn 0: stream two tools' });

    const second = await inlineClient.chat.completions.create({ model: 'mock', messages });
    expect(second.choices[0]!.message.content).toBe(
      'tool={"ok":true,"meta":{"size":12}} ok=true nested=12 missing=[] turn=1',
    );
  });

  it('sends arguments_raw verbatim, even when it is not JSON', async () => {
    const messages: ChatCompletionMessageParam[] = [user('anything')];
    const first = await toolTurn(client, messages, '{"ok":false,"error":"invalid JSON arguments"}', {
      metadata: { scenario: 'malformed-tool-call' },
    });
    const [broken] = functionCalls(first.choices[0]!.message.tool_calls);
    expect(broken!.function.arguments).toBe('{"command": "echo hi"');
    expect(() => JSON.parse(broken!.function.arguments)).toThrow();

    const second = await toolTurn(client, messages, '{"ok":false,"error":"unknown tool teleport"}', {
      metadata: { scenario: 'malformed-tool-call' },
    });
    const [teleport] = functionCalls(second.choices[0]!.message.tool_calls);
    expect(teleport).toMatchObject({ id: 'call_1_0', function: { name: 'teleport', arguments: '{}' } });

    const third = await client.chat.completions.create({
      model: 'mock',
      messages,
      metadata: { scenario: 'malformed-tool-call' },
    });
    expect(third.choices[0]!.message.content).toBe('I saw: {"ok":false,"error":"unknown tool teleport"}');
  });

  it('waits delay_ms before answering', async () => {
    const started = performance.now();
    const response = await inlineClient.chat.completions.create({ model: 'mock/slow', messages: [user('x')] });
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    expect(response.choices[0]!.message.content).toBe('late');
  });
});

describe('streaming', () => {
  it('streams chunks as OpenAI does: role first, argument pieces, finish, usage, [DONE]', async () => {
    const stream = await inlineClient.chat.completions.create({
      model: 'mock',
      messages: [user('stream two tools')],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);

    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe('Working on it.');
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThan(1);

    // Rebuild the tool calls from their deltas, as a client would.
    const rebuilt = new Map<number, { id: string; name: string; arguments: string; pieces: number }>();
    for (const delta of chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])) {
      const entry = rebuilt.get(delta.index) ?? { id: '', name: '', arguments: '', pieces: 0 };
      if (delta.id) entry.id = delta.id;
      if (delta.function?.name) entry.name = delta.function.name;
      if (delta.function?.arguments) {
        entry.arguments += delta.function.arguments;
        entry.pieces++;
      }
      rebuilt.set(delta.index, entry);
    }
    const [write, read] = [rebuilt.get(0)!, rebuilt.get(1)!];
    expect(write).toMatchObject({ id: 'call_0_0', name: 'write_file' });
    expect(JSON.parse(write.arguments)).toEqual({ path: 'a.txt', content: 'turn 0: stream two tools' });
    expect(write.pieces).toBeGreaterThanOrEqual(2);
    expect(read).toMatchObject({ id: 'call_0_1', name: 'read_file' });
    expect(JSON.parse(read.arguments)).toEqual({ path: 'a.txt' });

    const finish = chunks.at(-2)!;
    expect(finish.choices[0]!.finish_reason).toBe('tool_calls');
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage!.total_tokens).toBe(usage.usage!.prompt_tokens + usage.usage!.completion_tokens);
    expect(usage.usage!.completion_tokens).toBeGreaterThan(1);
  });

  it('reassembles into a final completion with the streaming helper', async () => {
    const stream = client.chat.completions.stream({
      model: 'mock',
      messages: [user('say hello from the sandbox')],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    const [call] = functionCalls(final.choices[0]!.message.tool_calls);
    expect(call).toMatchObject({ id: 'call_0_0', type: 'function', function: { name: 'shell' } });
    expect(JSON.parse(call!.function.arguments)).toEqual({ command: 'echo hello from $(whoami) in $(pwd)' });
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.usage?.prompt_tokens).toBe(Math.ceil('say hello from the sandbox'.length / 4));
  });

  it('omits the usage chunk without include_usage and streams plain content', async () => {
    const stream = await client.chat.completions.create({ model: 'mock', messages: [user('echo me')], stream: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.choices.length === 1 && c.usage === undefined)).toBe(true);
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe('You said: echo me');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('answers a scripted error as JSON with its status before any SSE', async () => {
    const response = await fetch(`${inline.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock/always-down', stream: true, messages: [user('x')] }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toEqual({
      error: { message: 'down for good', type: 'server_error', param: null, code: null },
    });
  });
});

describe('models and scenario selection', () => {
  it('lists mock plus one mock/<name> per scenario', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model).toMatchObject({ object: 'model', owned_by: 'kortix' });
      ids.push(model.id);
    }
    expect(ids).toEqual(['mock', ...shipped.scenarios.map((name) => `mock/${name}`)]);
  });

  it('selects by metadata.scenario before the model and the match regex', async () => {
    const response = await client.chat.completions.create({
      model: 'mock/approval-shell',
      messages: [user('please clean up the build cache')],
      metadata: { scenario: 'safe-shell' },
    });
    const [call] = functionCalls(response.choices[0]!.message.tool_calls);
    expect(JSON.parse(call!.function.arguments).command).toBe('echo hello from $(whoami) in $(pwd)');
    expect(shipped.stats().byScenario).toEqual({ 'safe-shell': 1 });
  });

  it('rejects an unknown metadata.scenario with a 400 naming it', async () => {
    const error = await apiError(
      client.chat.completions.create({ model: 'mock', messages: [user('x')], metadata: { scenario: 'no-such-thing' } }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toContain('no-such-thing');
    expect(error.param).toBe('metadata.scenario');
    expect(shipped.stats()).toEqual({ requests: 1, byScenario: {}, errors: 1 });
  });

  it('selects by a mock/<name> model', async () => {
    const response = await client.chat.completions.create({ model: 'mock/approval-shell', messages: [user('hello')] });
    const [call] = functionCalls(response.choices[0]!.message.tool_calls);
    expect(JSON.parse(call!.function.arguments).command).toBe('rm -f /workspace/scratch.txt && echo removed');
    expect(response.model).toBe('mock/approval-shell');
  });

  it('selects by match regex, case-insensitively, and falls back to default', async () => {
    const matched = await client.chat.completions.create({
      model: 'mock',
      messages: [user('Hi'), { role: 'assistant', content: 'Hello' }, user('Now DELETE THE SCRATCH FILE please')],
    });
    expect(functionCalls(matched.choices[0]!.message.tool_calls)[0]!.function.arguments).toContain('scratch.txt');

    const fallback = await client.chat.completions.create({ model: 'mock', messages: [user('nothing special')] });
    expect(fallback.choices[0]!.message.content).toBe('You said: nothing special');
    expect(shipped.stats().byScenario).toEqual({ 'approval-shell': 1, default: 1 });
  });

  it('uses the built-in echo when no scenario matches and there is no default', async () => {
    const response = await inlineClient.chat.completions.create({
      model: 'mock',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'parts ' }, { type: 'text', text: 'joined' }] }],
    });
    expect(response.choices[0]!.message.content).toBe('You said: parts joined');
    expect(inline.stats().byScenario).toEqual({ '(echo)': 1 });
  });
});

describe('repeat', () => {
  it('plays a repeated turn N times, then the next turn, then reports the missing turn', async () => {
    const messages: ChatCompletionMessageParam[] = [user('count steps')];
    const commands: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await toolTurn(client, messages, JSON.stringify({ ok: true, stdout: `${i + 1}\n` }), {
        metadata: { scenario: 'multi-step' },
      });
      const [call] = functionCalls(response.choices[0]!.message.tool_calls);
      expect(call!.id).toBe(`call_${i}_0`);
      commands.push(JSON.parse(call!.function.arguments).command);
    }
    expect(commands).toEqual([0, 1, 2].map((n) => `echo step ${n} >> /workspace/steps.log && wc -l < /workspace/steps.log`));

    const done = await toolTurn(client, messages, '', { metadata: { scenario: 'multi-step' } });
    expect(done.choices[0]!.message.content).toBe('Finished after 3 turns: 3\n');

    const beyond = await client.chat.completions.create({
      model: 'mock',
      messages,
      metadata: { scenario: 'multi-step' },
    });
    expect(beyond.choices[0]!.message.content).toBe('(scenario multi-step has no turn 4)');
    expect(beyond.choices[0]!.finish_reason).toBe('stop');
  });

  it('lets metadata.repeat override the count', async () => {
    const messages: ChatCompletionMessageParam[] = [user('count steps')];
    const metadata = { scenario: 'multi-step', repeat: '1' };
    const first = await toolTurn(client, messages, JSON.stringify({ ok: true, stdout: '1\n' }), { metadata });
    expect(first.choices[0]!.finish_reason).toBe('tool_calls');
    const second = await client.chat.completions.create({ model: 'mock', messages, metadata });
    expect(second.choices[0]!.message.content).toBe('Finished after 1 turns: 1\n');
  });

  it('rejects a metadata.repeat that is not a positive integer', async () => {
    const error = await apiError(
      client.chat.completions.create({ model: 'mock', messages: [user('x')], metadata: { repeat: 'lots' } }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe('metadata.repeat');
  });
});

describe('scripted errors and stats', () => {
  it('fails the first `times` attempts of the same request, then answers; reset starts over', async () => {
    const request = { model: 'mock/flaky', messages: [user('try me')] };
    for (let attempt = 1; attempt <= 2; attempt++) {
      const error = await apiError(client.chat.completions.create(request));
      expect(error.status).toBe(500);
      expect(error.message).toContain('upstream exploded');
      expect(error.type).toBe('server_error');
    }
    const third = await client.chat.completions.create(request);
    expect(third.choices[0]!.message.content).toBe('recovered');

    // A different conversation has its own attempt counter.
    const other = await apiError(client.chat.completions.create({ ...request, messages: [user('another')] }));
    expect(other).toBeInstanceOf(OpenAI.InternalServerError);

    expect(shipped.stats()).toEqual({ requests: 4, byScenario: { flaky: 4 }, errors: 3 });
    const overHttp = await fetch(shipped.url.replace(/\/v1$/, '/_mock/stats')).then((r) => r.json());
    expect(overHttp).toEqual(shipped.stats());

    const reset = await fetch(shipped.url.replace(/\/v1$/, '/_mock/reset'), { method: 'POST' });
    expect(reset.status).toBe(200);
    expect(shipped.stats()).toEqual({ requests: 0, byScenario: {}, errors: 0 });
    await expect(client.chat.completions.create(request)).rejects.toMatchObject({ status: 500 });
  });

  it('does not count requests rejected before scenario selection', async () => {
    const error = await apiError(client.chat.completions.create({ model: '', messages: [user('x')] }));
    expect(error.param).toBe('model');
    expect(shipped.stats()).toEqual({ requests: 0, byScenario: {}, errors: 0 });
  });
});

describe('request validation', () => {
  it('answers a body without messages with a 400 naming the parameter', async () => {
    const response = await fetch(`${shipped.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer whatever' },
      body: JSON.stringify({ model: 'mock' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        message: "Missing required parameter: 'messages'.",
        type: 'invalid_request_error',
        param: 'messages',
        code: null,
      },
    });
  });

  it('names nested parameters like messages[0].role', async () => {
    const response = await fetch(`${shipped.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock', messages: [{ role: 'wizard', content: 'x' }] }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { param: string; type: string } };
    expect(body.error).toMatchObject({ param: 'messages[0].role', type: 'invalid_request_error' });
  });

  it('answers broken JSON with a 400 and unknown URLs with a 404, both in OpenAI shape', async () => {
    const app = createMockLlmApp([]);
    const broken = await app.request('/v1/chat/completions', { method: 'POST', body: '{"model":' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: { type: 'invalid_request_error', param: null } });
    const missing = await app.request('/v1/images/generations', { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'unknown_url' } });
  });
});

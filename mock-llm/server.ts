/**
 * The mock LLM: a real HTTP server speaking the OpenAI Chat Completions API
 * (JSON and SSE), answering from deterministic scenarios, and the Embeddings
 * API (deterministic vectors, mock-llm/embeddings.ts). Used by `make dev`,
 * by workflow integration tests and by router tests that count upstream calls.
 *
 * Pipeline of one request: validate body → read the conversation → select a
 * scenario → pick the turn → (delay, scripted error) → render the answer → JSON or SSE.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import {
  assertUniqueNames,
  loadScenariosDir,
  scenarioSchema,
  type Scenario,
  type ScenarioInput,
  type ScenarioToolCall,
  type ScenarioTurn,
  type SourcedScenario,
} from './scenario-schema.js';
import { answerEmbeddings, EmbeddingCounters, type EmbeddingStats } from './embeddings.js';

export type { Scenario, ScenarioInput } from './scenario-schema.js';
export type { EmbeddingStats } from './embeddings.js';

// ---------------------------------------------------------------------------
// Request body

const textPartSchema = z.object({ type: z.literal('text'), text: z.string() });

const messageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(textPartSchema)]).nullish(),
  tool_calls: z
    .array(
      z.object({
        id: z.string(),
        type: z.literal('function'),
        function: z.object({ name: z.string(), arguments: z.string() }),
      }),
    )
    .nullish(),
  tool_call_id: z.string().nullish(),
});

const requestSchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(messageSchema).min(1),
    tools: z.array(z.record(z.string(), z.unknown())).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
  })
  .superRefine((body, ctx) => {
    const repeat = body.metadata?.repeat;
    if (repeat !== undefined && !/^[1-9][0-9]{0,5}$/.test(repeat)) {
      ctx.addIssue({ code: 'custom', path: ['metadata', 'repeat'], message: 'must be a positive integer, as a string' });
    }
  });

type ChatRequest = z.infer<typeof requestSchema>;
type ChatMessage = ChatRequest['messages'][number];

// ---------------------------------------------------------------------------
// Errors: one class, one response shape (OpenAI's)

/** An error answered with OpenAI's error JSON `{ error: { message, type, param, code } }`. */
export class MockApiError extends Error {
  override readonly name = 'MockApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  /** The JSON body OpenAI sends for this error. */
  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** `messages[0].content` style, as OpenAI names parameters. */
function paramPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Validates a body; the first problem becomes a 400 naming the parameter. */
function parseRequest(raw: unknown): ChatRequest {
  const result = requestSchema.safeParse(raw);
  if (result.success) return result.data;
  throw invalidBody(raw, result.error);
}

/** The first problem of a body, as OpenAI reports it: a 400 naming the parameter. */
function invalidBody(raw: unknown, error: z.ZodError): MockApiError {
  const issue = error.issues[0];
  const path = issue?.path ?? [];
  const param = paramPath(path);
  const message =
    path.length > 0 && valueAt(raw, path) === undefined
      ? `Missing required parameter: '${param}'.`
      : `Invalid value for '${param || 'body'}': ${issue?.message ?? 'invalid request'}`;
  return new MockApiError(400, message, 'invalid_request_error', param || null);
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new MockApiError(400, 'We could not parse the JSON body of your request: expected a JSON object.');
  }
}

// ---------------------------------------------------------------------------
// Stats and scripted-error attempts

/** Counters served at `GET /_mock/stats`. */
export interface MockStats {
  /** Chat completion requests that reached scenario selection. */
  requests: number;
  /** Requests per selected scenario (`(echo)` for the built-in echo). */
  byScenario: Record<string, number>;
  /** Error answers to those requests (scripted errors and unknown scenarios). */
  errors: number;
}

/** The mutable state of one mock server: counters, attempts of scripted errors, completion ids. */
export class MockLlmState {
  private requests = 0;
  private errors = 0;
  private readonly byScenario = new Map<string, number>();
  /** Counters of /v1/embeddings. */
  readonly embeddings = new EmbeddingCounters();
  private readonly attempts = new Map<string, number>();
  private lastId = 0;

  /** Counts a request that reached scenario selection. */
  countRequest(): void {
    this.requests++;
  }

  /** Counts the scenario a request was answered from. */
  countScenario(name: string): void {
    this.byScenario.set(name, (this.byScenario.get(name) ?? 0) + 1);
  }

  /** Counts an error answer. */
  countError(): void {
    this.errors++;
  }

  /** Records one more attempt of `key` and returns its number, starting at 1. */
  attempt(key: string): number {
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    return n;
  }

  /** A fresh `chatcmpl-mock-<n>` id (never reset, so ids stay unique per server). */
  nextCompletionId(): string {
    return `chatcmpl-mock-${++this.lastId}`;
  }

  /** A snapshot of the counters. */
  stats(): MockStats {
    return { requests: this.requests, byScenario: Object.fromEntries(this.byScenario), errors: this.errors };
  }

  /** Zeroes the counters and the attempts of scripted errors. */
  reset(): void {
    this.requests = 0;
    this.errors = 0;
    this.byScenario.clear();
    this.attempts.clear();
    this.embeddings.reset();
  }
}

// ---------------------------------------------------------------------------
// Conversation, scenario selection and turns

interface Conversation {
  /** Text of the last user message ('' when there is none). */
  user: string;
  /** Content of the last tool message, if any. */
  tool: string | undefined;
  /** Assistant messages after the last user message: the index of the turn to play. */
  turn: number;
}

function messageText(message: ChatMessage): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  return (content ?? []).map((part) => part.text).join('');
}

function readConversation(messages: readonly ChatMessage[]): Conversation {
  const lastUser = messages.findLastIndex((m) => m.role === 'user');
  const lastTool = messages.findLast((m) => m.role === 'tool');
  const userMessage = messages[lastUser];
  return {
    user: userMessage ? messageText(userMessage) : '',
    tool: lastTool ? messageText(lastTool) : undefined,
    turn: messages.slice(lastUser + 1).filter((m) => m.role === 'assistant').length,
  };
}

interface Catalog {
  readonly byName: ReadonlyMap<string, Scenario>;
  /** Sorted by name: the order in which `match` regexes are tried. */
  readonly matchers: readonly { scenario: Scenario; regex: RegExp }[];
}

const ECHO_SCENARIO: Scenario = { name: '(echo)', turns: [{ content: 'You said: {{user}}' }] };

function buildCatalog(scenarios: readonly Scenario[]): Catalog {
  const sorted = [...scenarios].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    byName: new Map(sorted.map((s) => [s.name, s])),
    matchers: sorted.flatMap((s) => (s.match === undefined ? [] : [{ scenario: s, regex: new RegExp(s.match, 'i') }])),
  };
}

function namedScenario(catalog: Catalog, name: string, param: string): Scenario {
  const scenario = catalog.byName.get(name);
  if (!scenario) {
    const known = [...catalog.byName.keys()].join(', ') || '(none)';
    const message = `Unknown mock scenario "${name}" (from ${param}); known: ${known}`;
    throw new MockApiError(400, message, 'invalid_request_error', param);
  }
  return scenario;
}

/** metadata.scenario → model `mock/<name>` → first matching regex → `default` → built-in echo. */
function selectScenario(catalog: Catalog, body: ChatRequest, userText: string): Scenario {
  const fromMetadata = body.metadata?.scenario;
  if (fromMetadata !== undefined) return namedScenario(catalog, fromMetadata, 'metadata.scenario');
  if (body.model.startsWith('mock/')) return namedScenario(catalog, body.model.slice('mock/'.length), 'model');
  const matched = catalog.matchers.find((m) => m.regex.test(userText));
  return matched?.scenario ?? catalog.byName.get('default') ?? ECHO_SCENARIO;
}

/** The turn played at `index`, expanding `repeat` (overridden by `metadata.repeat` where declared). */
function turnAt(scenario: Scenario, index: number, repeatOverride: number | undefined): ScenarioTurn | undefined {
  let start = 0;
  for (const turn of scenario.turns) {
    const times = turn.repeat === undefined ? 1 : (repeatOverride ?? turn.repeat);
    if (index < start + times) return turn;
    start += times;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Templates: {{user}}, {{tool}}, {{tool.<field>}}, {{turn}}

interface TemplateContext {
  user: string;
  tool: string | undefined;
  turn: number;
}

function toolField(tool: string | undefined, path: string): string {
  if (tool === undefined) return '';
  let value: unknown;
  try {
    value = JSON.parse(tool);
  } catch {
    return '';
  }
  value = valueAt(value, path.split('.'));
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Replaces the placeholders of `text`; unknown placeholders are left as written. */
function renderTemplate(text: string, ctx: TemplateContext): string {
  return text.replace(/\{\{\s*(user|turn|tool)(?:\.([A-Za-z0-9_.-]+))?\s*\}\}/g, (whole, key: string, field?: string) => {
    if (key === 'tool') return field === undefined ? (ctx.tool ?? '') : toolField(ctx.tool, field);
    if (field !== undefined) return whole;
    return key === 'user' ? ctx.user : String(ctx.turn);
  });
}

/** Applies templates to every string inside a JSON-like value. */
function renderValue(value: unknown, ctx: TemplateContext): unknown {
  if (typeof value === 'string') return renderTemplate(value, ctx);
  if (Array.isArray(value)) return value.map((v) => renderValue(v, ctx));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderValue(v, ctx)]));
  }
  return value;
}

// ---------------------------------------------------------------------------
// Answers

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

interface AnswerToolCall {
  id: string;
  name: string;
  arguments: string;
}

interface Answer {
  content: string | null;
  toolCalls: AnswerToolCall[];
  finishReason: 'stop' | 'tool_calls';
  usage: Usage;
}

/** Roughly four characters a token, at least one. */
function tokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

function promptChars(messages: readonly ChatMessage[]): number {
  return messages.reduce(
    (sum, m) =>
      sum + messageText(m).length + (m.tool_calls ?? []).reduce((s, call) => s + call.function.arguments.length, 0),
    0,
  );
}

function renderToolCall(call: ScenarioToolCall, index: number, ctx: TemplateContext): AnswerToolCall {
  const args = call.arguments_raw ?? JSON.stringify(renderValue(call.arguments ?? {}, ctx));
  return { id: `call_${ctx.turn}_${index}`, name: call.name, arguments: args };
}

function buildAnswer(
  scenario: Scenario,
  turn: ScenarioTurn | undefined,
  ctx: TemplateContext,
  messages: readonly ChatMessage[],
): Answer {
  const content =
    turn === undefined
      ? `(scenario ${scenario.name} has no turn ${ctx.turn})`
      : turn.content === undefined
        ? null
        : renderTemplate(turn.content, ctx);
  const toolCalls = (turn?.tool_calls ?? []).map((call, i) => renderToolCall(call, i, ctx));
  const answerChars = (content ?? '').length + toolCalls.reduce((s, call) => s + call.arguments.length, 0);
  const prompt = turn?.usage?.prompt_tokens ?? tokens(promptChars(messages));
  const completion = turn?.usage?.completion_tokens ?? tokens(answerChars);
  return {
    // A turn with only a spent scripted error still answers something.
    content: content ?? (toolCalls.length === 0 ? '' : null),
    toolCalls,
    finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/** Throws the scripted error of `turn` while its attempts are not spent. */
function playScriptedError(
  state: MockLlmState,
  scenario: Scenario,
  turn: ScenarioTurn | undefined,
  ctx: TemplateContext,
  messages: readonly ChatMessage[],
): void {
  const error = turn?.error;
  if (!error) return;
  const digest = createHash('sha256').update(JSON.stringify(messages)).digest('hex');
  const attempt = state.attempt(`${scenario.name}\u0000${ctx.turn}\u0000${digest}`);
  if (error.times === undefined || attempt <= error.times) {
    throw new MockApiError(error.status, error.message, error.type);
  }
}

// ---------------------------------------------------------------------------
// Wire formats

interface ResponseMeta {
  id: string;
  created: number;
  model: string;
}

function completionBody(answer: Answer, meta: ResponseMeta): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: answer.content, refusal: null };
  if (answer.toolCalls.length > 0) {
    message.tool_calls = answer.toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: answer.finishReason }],
    usage: answer.usage,
  };
}

/** Splits by code points into at most `parts` non-empty pieces. */
function splitText(text: string, parts: number): string[] {
  const chars = Array.from(text);
  const size = Math.max(1, Math.ceil(chars.length / parts));
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces;
}

/** The `chat.completion.chunk` payloads OpenAI would stream for `answer`, before `[DONE]`. */
function streamChunks(answer: Answer, meta: ResponseMeta, includeUsage: boolean): Record<string, unknown>[] {
  const base = { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model };
  // With include_usage OpenAI sends `usage: null` on every chunk but the last.
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): Record<string, unknown> => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const chunks = [chunk({ role: 'assistant', content: '' })];
  for (const piece of splitText(answer.content ?? '', 3)) chunks.push(chunk({ content: piece }));
  answer.toolCalls.forEach((call, index) => {
    const opening = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
    chunks.push(chunk({ tool_calls: [opening] }));
    for (const piece of splitText(call.arguments, 3)) {
      chunks.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  chunks.push(chunk({}, answer.finishReason));
  if (includeUsage) chunks.push({ ...base, choices: [], usage: answer.usage });
  return chunks;
}

function sendStream(c: Context, chunks: readonly Record<string, unknown>[]): Response {
  return streamSSE(c, async (stream) => {
    for (const payload of chunks) await stream.writeSSE({ data: JSON.stringify(payload) });
    await stream.writeSSE({ data: '[DONE]' });
  });
}

// ---------------------------------------------------------------------------
// The app

/** Validates inline scenarios; the message names the scenario's position. */
function parseInlineScenarios(scenarios: readonly ScenarioInput[]): SourcedScenario[] {
  return scenarios.map((input, i) => {
    const source = `inline scenario #${i}${typeof input.name === 'string' ? ` (${input.name})` : ''}`;
    const result = scenarioSchema.safeParse(input);
    if (!result.success) throw new Error(`Invalid ${source}:\n${z.prettifyError(result.error)}`);
    return { source, scenario: result.data };
  });
}

/** Answers one validated chat completion request (after body validation). */
async function answerChat(c: Context, catalog: Catalog, state: MockLlmState, body: ChatRequest): Promise<Response> {
  const conversation = readConversation(body.messages);
  state.countRequest();
  try {
    const scenario = selectScenario(catalog, body, conversation.user);
    state.countScenario(scenario.name);
    const repeat = body.metadata?.repeat === undefined ? undefined : Number(body.metadata.repeat);
    const turn = turnAt(scenario, conversation.turn, repeat);
    if (turn?.delay_ms) await sleep(turn.delay_ms);
    playScriptedError(state, scenario, turn, conversation, body.messages);
    const answer = buildAnswer(scenario, turn, conversation, body.messages);
    const meta = { id: state.nextCompletionId(), created: Math.floor(Date.now() / 1000), model: body.model };
    if (body.stream) return sendStream(c, streamChunks(answer, meta, body.stream_options?.include_usage === true));
    return c.json(completionBody(answer, meta));
  } catch (err) {
    if (err instanceof MockApiError) state.countError();
    throw err;
  }
}

/**
 * The Hono app of the mock LLM, for in-process tests (`app.request(...)`).
 * Scenarios are validated; duplicate names throw. `state` holds the counters.
 */
export function createMockLlmApp(scenarios: readonly ScenarioInput[], state: MockLlmState = new MockLlmState()): Hono {
  const sourced = parseInlineScenarios(scenarios);
  assertUniqueNames(sourced);
  const catalog = buildCatalog(sourced.map((s) => s.scenario));
  const created = Math.floor(Date.now() / 1000);
  const app = new Hono();

  app.post('/v1/chat/completions', async (c) => answerChat(c, catalog, state, parseRequest(await readJson(c))));
  app.post('/v1/embeddings', async (c) => {
    const raw = await readJson(c);
    const answer = answerEmbeddings(raw, state.embeddings);
    if (!answer.ok) throw invalidBody(raw, answer.error);
    return c.json(answer.body);
  });

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: ['mock', ...[...catalog.byName.keys()].map((name) => `mock/${name}`)].map((id) => ({
        id,
        object: 'model',
        created,
        owned_by: 'kortix',
      })),
    }),
  );

  app.get('/_mock/stats', (c) => c.json(state.stats()));
  app.get('/_mock/embeddings/stats', (c) => c.json(state.embeddings.stats()));
  app.post('/_mock/reset', (c) => {
    state.reset();
    return c.json(state.stats());
  });

  app.notFound((c) => {
    const message = `Unknown request URL: ${c.req.method} ${c.req.path}.`;
    const error = new MockApiError(404, message, 'invalid_request_error', null, 'unknown_url');
    return c.json(error.toJSON(), 404);
  });
  app.onError((err, c) => {
    const error = err instanceof MockApiError ? err : new MockApiError(500, err.message, 'server_error');
    return c.json(error.toJSON(), error.status as ContentfulStatusCode);
  });
  return app;
}

// ---------------------------------------------------------------------------
// The server

/** Where to listen and what to play. */
export interface MockLlmOptions {
  /** A folder of `<name>.yaml` scenario files. */
  scenariosDir?: string;
  /** Scenarios given in code (tests); names must not clash with the folder's. */
  scenarios?: readonly ScenarioInput[];
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
}

/** A running mock LLM. */
export interface MockLlmServer {
  /** Base URL for OpenAI clients, ending in `/v1`. */
  readonly url: string;
  readonly port: number;
  /** Names of the loaded scenarios, sorted. */
  readonly scenarios: readonly string[];
  stats(): MockStats;
  /** Counters of /v1/embeddings (requests, inputs, inputs per request). */
  embeddingStats(): EmbeddingStats;
  reset(): void;
  close(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** A host usable in a URL: wildcard addresses become loopback, IPv6 gets brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function closer(server: Server): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Keep-alive connections of clients would otherwise hold close() open.
      server.closeAllConnections();
    });
    return closing;
  };
}

/**
 * Loads the scenarios (a bad file throws YamlFileError; duplicate names throw
 * naming both sources) and starts listening.
 */
export async function startMockLlm(options: MockLlmOptions = {}): Promise<MockLlmServer> {
  const { scenariosDir, scenarios = [], host = '127.0.0.1', port = 0 } = options;
  const fromDir = scenariosDir === undefined ? [] : loadScenariosDir(scenariosDir);
  const sourced = [...fromDir, ...parseInlineScenarios(scenarios)];
  assertUniqueNames(sourced);
  const state = new MockLlmState();
  const app = createMockLlmApp(sourced.map((s) => s.scenario), state);
  const server = createServer(getRequestListener(app.fetch));
  const boundPort = await listen(server, host, port);
  return {
    url: `http://${urlHost(host)}:${boundPort}/v1`,
    port: boundPort,
    scenarios: sourced.map((s) => s.scenario.name).sort(),
    stats: () => state.stats(),
    embeddingStats: () => state.embeddings.stats(),
    reset: () => state.reset(),
    close: closer(server),
  };
}

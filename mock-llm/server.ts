/**
 * The mock LLM: a real HTTP server speaking the OpenAI Chat Completions API
 * (JSON and SSE), answering from deterministic scenarios, and the Embeddings
 * API (deterministic vectors, mock-llm/embeddings.ts). Used by `make dev`,
 * by workflow integration tests and by router tests that count upstream calls.
 *
 * Pipeline of one request: validate body (request.ts) → read the conversation →
 * select a scenario → pick the turn → (delay, scripted error) → render the
 * answer (play.ts) → JSON or SSE (wire.ts). Counters live in state.ts.
 */
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { assertUniqueNames, loadScenariosDir, scenarioSchema, type ScenarioInput, type SourcedScenario } from './scenario-schema.js';
import { answerEmbeddings, type EmbeddingStats } from './embeddings.js';
import { invalidBody, MockApiError, parseRequest, readJson, type ChatRequest } from './request.js';
import { MockLlmState, type MockStats } from './state.js';
import { buildAnswer, buildCatalog, playScriptedError, readConversation, selectScenario, turnAt, type Catalog } from './play.js';
import { completionBody, sendStream, streamChunks } from './wire.js';

export type { Scenario, ScenarioInput } from './scenario-schema.js';
export type { EmbeddingStats } from './embeddings.js';
export { MockApiError } from './request.js';
export { MockLlmState, type MockStats } from './state.js';

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

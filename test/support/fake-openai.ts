/**
 * A local fake of an OpenAI-compatible server (real HTTP on loopback, port 0)
 * for router tests and benchmarks: it counts and records every request, and
 * answers from a script of replies (status, Retry-After, delay, hang, JSON or
 * SSE, a stream that breaks before or after its first token), then from a
 * default that echoes the last user message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
}

/** One scripted answer. */
export interface FakeReply {
  readonly status?: number;
  /** The JSON body (an error body for status ≥ 400); a chat completion is built when absent. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly delayMs?: number;
  /** Never answer (the client's timeout decides). */
  readonly hang?: boolean;
  /** The answer's text (default `echo: <last user message>`). */
  readonly content?: string;
  readonly toolCalls?: readonly { id: string; name: string; arguments: string }[];
  readonly usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number };
  /** For a streamed request: cut the connection before or after the first token. */
  readonly breakStream?: 'before-first-token' | 'after-first-token';
  /** For a streamed request: leave out the usage chunk even when asked for. */
  readonly omitStreamUsage?: boolean;
}

export type Responder = (request: ReceivedRequest) => FakeReply | Promise<FakeReply>;

export interface FakeOpenAi {
  /** Base URL ending in /v1. */
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Requests to a path (default /v1/chat/completions). */
  count(path?: string): number;
  /** Replies used, in order, before the default responder. */
  script(...replies: FakeReply[]): void;
  /** Replaces the default responder. */
  respond(responder: Responder): void;
  reset(): void;
  close(): Promise<void>;
}

function lastUser(body: Record<string, unknown>): string {
  const messages = (body.messages ?? []) as { role?: string; content?: unknown }[];
  const user = messages.findLast((m) => m.role === 'user');
  return typeof user?.content === 'string' ? user.content : '';
}

function completion(body: Record<string, unknown>, reply: FakeReply): Record<string, unknown> {
  const usage = reply.usage ?? { prompt_tokens: 100, completion_tokens: 10 };
  const toolCalls = reply.toolCalls ?? [];
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    model: body.model,
    choices: [
      {
        index: 0,
        finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
        message: {
          role: 'assistant',
          content: reply.content ?? (toolCalls.length > 0 ? null : `echo: ${lastUser(body)}`),
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) } : {}),
        },
      },
    ],
    usage: {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.prompt_tokens + usage.completion_tokens,
      ...(usage.cached_tokens !== undefined ? { prompt_tokens_details: { cached_tokens: usage.cached_tokens } } : {}),
    },
  };
}

function stream(res: ServerResponse, body: Record<string, unknown>, reply: FakeReply): void {
  const full = completion(body, reply) as { choices: { message: { content: string | null; tool_calls?: unknown[] }; finish_reason: string }[]; usage: unknown };
  const choice = full.choices[0] as (typeof full.choices)[number];
  const send = (payload: unknown, then?: () => void) => res.write(`data: ${JSON.stringify(payload)}\n\n`, then);
  // Cut the connection once the chunk has left (not before it is flushed).
  const cut = () => void setTimeout(() => res.socket?.destroy(), 20);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const opening = { choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] };
  if (reply.breakStream === 'before-first-token') return void send(opening, cut);
  send(opening);
  const text = choice.message.content ?? '';
  const half = Math.ceil(text.length / 2);
  for (const piece of [text.slice(0, half), text.slice(half)].filter(Boolean)) {
    const chunk = { choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] };
    if (reply.breakStream === 'after-first-token') return void send(chunk, cut);
    send(chunk);
  }
  (choice.message.tool_calls ?? []).forEach((call, index) => {
    const c = call as { id: string; function: { name: string; arguments: string } };
    send({ choices: [{ index: 0, delta: { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] }, finish_reason: null }] });
    send({ choices: [{ index: 0, delta: { tool_calls: [{ index, function: { arguments: c.function.arguments } }] }, finish_reason: null }] });
  });
  send({ choices: [{ index: 0, delta: {}, finish_reason: choice.finish_reason }] });
  const options = body.stream_options as { include_usage?: boolean } | undefined;
  if (options?.include_usage && !reply.omitStreamUsage) send({ choices: [], usage: full.usage });
  res.end('data: [DONE]\n\n');
}

/** Starts a fake OpenAI-compatible server on 127.0.0.1 and a free port. */
export async function startFakeOpenAi(responder?: Responder): Promise<FakeOpenAi> {
  const requests: ReceivedRequest[] = [];
  let scripted: FakeReply[] = [];
  let respond: Responder = responder ?? (() => ({}));
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const received: ReceivedRequest = { path: req.url ?? '', headers: req.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
      requests.push(received);
      void (async () => {
        const reply = scripted.shift() ?? (await respond(received));
        if (reply.hang) return;
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        const status = reply.status ?? 200;
        if (status >= 400 || reply.body !== undefined) {
          res.writeHead(status, { 'content-type': 'application/json', ...reply.headers });
          res.end(JSON.stringify(reply.body ?? { error: { message: `fake error ${status}`, type: 'server_error' } }));
          return;
        }
        if (received.body.stream === true) return stream(res, received.body, reply);
        res.writeHead(200, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify(completion(received.body, reply)));
      })();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    count: (path = '/v1/chat/completions') => requests.filter((r) => r.path === path).length,
    script: (...replies) => {
      scripted.push(...replies);
    },
    respond: (next) => {
      respond = next;
    },
    reset: () => {
      requests.length = 0;
      scripted = [];
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

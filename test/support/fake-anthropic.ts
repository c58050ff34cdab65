/**
 * A local fake of the Anthropic Messages API (POST /v1/messages, real HTTP on
 * loopback, port 0). It checks what the real API checks and our provider
 * could get wrong — the x-api-key and anthropic-version headers, max_tokens,
 * alternating roles starting with user, tool_result blocks answering the
 * previous turn's tool_use ids — and answers scripted replies as JSON or as
 * the API's SSE event sequence, errors in the API's shape.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AnthropicReceived {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: {
    model?: string;
    max_tokens?: number;
    system?: string;
    stream?: boolean;
    temperature?: number;
    tools?: { name: string; description?: string; input_schema: unknown }[];
    messages?: { role: string; content: string | { type: string; [k: string]: unknown }[] }[];
  };
}

export interface AnthropicReply {
  /** Text of the answer (default `echo: <last user text>`). */
  readonly text?: string;
  readonly toolUses?: readonly { id: string; name: string; input: unknown }[];
  readonly usage?: { input_tokens: number; output_tokens: number; cache_read_input_tokens?: number; cache_creation_input_tokens?: number };
  /** An error answer: HTTP status and the API's error type. */
  readonly error?: { status: number; type: string; message: string; retryAfter?: string };
  /** For a streamed request: an `error` event (overloaded_error...) after message_start. */
  readonly streamError?: { type: string; message: string };
}

export interface FakeAnthropic {
  /** Base URL without /v1 (as ANTHROPIC_BASE_URL). */
  readonly url: string;
  readonly requests: AnthropicReceived[];
  script(...replies: AnthropicReply[]): void;
  /** Answers requests when the script is empty (default: an echo). */
  respond(responder: (request: AnthropicReceived) => AnthropicReply): void;
  close(): Promise<void>;
}

type Block = { type: string; [k: string]: unknown };

/** What the real API would refuse with a 400, or undefined. */
function invalid(body: AnthropicReceived['body']): string | undefined {
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (typeof body.max_tokens !== 'number' || body.max_tokens < 1) return 'max_tokens: Field required';
  const messages = body.messages ?? [];
  if (messages.length === 0) return 'messages: at least one message is required';
  if (messages[0]?.role !== 'user') return 'messages: first message must use the "user" role';
  let openToolUses = new Set<string>();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as NonNullable<typeof messages>[number];
    if (m.role !== 'user' && m.role !== 'assistant') return `messages.${i}.role: must be user or assistant`;
    if (i > 0 && messages[i - 1]?.role === m.role) return `messages: roles must alternate between "user" and "assistant" (messages.${i})`;
    const blocks: Block[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    if (blocks.length === 0) return `messages.${i}.content: must not be empty`;
    for (const b of blocks) {
      if (b.type === 'text' && (typeof b.text !== 'string' || b.text === '')) return `messages.${i}: text content blocks must be non-empty`;
      if (b.type === 'tool_result' && !openToolUses.has(String(b.tool_use_id))) {
        return `messages.${i}: tool_result block(s) provided when previous message does not have a corresponding tool_use (${String(b.tool_use_id)})`;
      }
      if (b.type === 'tool_use' && (typeof b.input !== 'object' || b.input === null || Array.isArray(b.input))) return `messages.${i}: tool_use.input must be an object`;
    }
    openToolUses = new Set(blocks.filter((b) => b.type === 'tool_use').map((b) => String(b.id)));
  }
  return undefined;
}

function lastUserText(body: AnthropicReceived['body']): string {
  const last = (body.messages ?? []).findLast((m) => m.role === 'user');
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  return last.content.filter((b) => b.type === 'text').map((b) => String(b.text)).join('');
}

function sendError(res: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ type: 'error', error: { type, message } }));
}

function answer(res: ServerResponse, req: AnthropicReceived, reply: AnthropicReply): void {
  const usage = { input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, ...reply.usage };
  const text = reply.text ?? (reply.toolUses ? undefined : `echo: ${lastUserText(req.body)}`);
  const content: Block[] = [...(text !== undefined ? [{ type: 'text', text }] : []), ...(reply.toolUses ?? []).map((t) => ({ type: 'tool_use', ...t }))];
  const stopReason = reply.toolUses?.length ? 'tool_use' : 'end_turn';
  if (!req.body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'msg_fake', type: 'message', role: 'assistant', model: req.body.model, content, stop_reason: stopReason, stop_sequence: null, usage }));
    return;
  }
  const event = (name: string, data: unknown) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  event('message_start', {
    type: 'message_start',
    message: { id: 'msg_fake', type: 'message', role: 'assistant', model: req.body.model, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
  });
  if (reply.streamError) {
    event('error', { type: 'error', error: reply.streamError });
    res.end();
    return;
  }
  event('ping', { type: 'ping' });
  content.forEach((block, index) => {
    if (block.type === 'text') {
      event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      const t = String(block.text);
      for (const piece of [t.slice(0, Math.ceil(t.length / 2)), t.slice(Math.ceil(t.length / 2))].filter(Boolean)) {
        event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
      }
    } else {
      event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      const json = JSON.stringify(block.input);
      for (const piece of [json.slice(0, 5), json.slice(5)].filter(Boolean)) {
        event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
      }
    }
    event('content_block_stop', { type: 'content_block_stop', index });
  });
  event('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  event('message_stop', { type: 'message_stop' });
  res.end();
}

/** Starts the fake on 127.0.0.1 and a free port; `apiKey` is the key it accepts. */
export async function startFakeAnthropic(apiKey = 'sk-ant-test'): Promise<FakeAnthropic> {
  const requests: AnthropicReceived[] = [];
  const scripted: AnthropicReply[] = [];
  let respond: (request: AnthropicReceived) => AnthropicReply = () => ({});
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/messages') return sendError(res, 404, 'not_found_error', `${req.method} ${req.url} not found`);
      let body: AnthropicReceived['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AnthropicReceived['body'];
      } catch {
        return sendError(res, 400, 'invalid_request_error', 'body is not JSON');
      }
      const received: AnthropicReceived = { headers: req.headers, body };
      requests.push(received);
      if (req.headers['x-api-key'] !== apiKey) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
      if (!req.headers['anthropic-version']) return sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
      const problem = invalid(body);
      if (problem) return sendError(res, 400, 'invalid_request_error', problem);
      const reply = scripted.shift() ?? respond(received);
      if (reply.error) {
        return sendError(res, reply.error.status, reply.error.type, reply.error.message, reply.error.retryAfter ? { 'retry-after': reply.error.retryAfter } : {});
      }
      answer(res, received, reply);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    script: (...replies) => {
      scripted.push(...replies);
    },
    respond: (next) => {
      respond = next;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * The Anthropic Messages API over plain HTTP (POST /v1/messages), JSON or
 * streamed: our OpenAI-shaped transcript becomes a system prompt and
 * user/assistant content blocks (tool_use, tool_result), and the answer comes
 * back as content and tool calls with usage, prompt-cache tokens included.
 */
import { LlmError } from '../errors.js';
import type { ChatAnswer, ChatMessage, ChatProvider, ChatRequest, TokenUsage } from '../types.js';
import { HttpCall, readSse } from './http.js';

/** The API version this provider speaks. */
export const ANTHROPIC_VERSION = '2023-06-01';

export interface AnthropicOptions {
  readonly name: string;
  /** https://api.anthropic.com (a trailing /v1 is accepted). */
  readonly baseUrl: string;
  readonly apiKey?: (() => string) | undefined;
  readonly timeoutMs: number;
  /** max_tokens when the request gives none (the API requires it). */
  readonly defaultMaxTokens?: number;
  readonly fetch?: typeof fetch | undefined;
}

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface WireMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

interface WireUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

interface WireResponse {
  content?: ({ type: 'text'; text?: string } | { type: 'tool_use'; id?: string; name?: string; input?: unknown } | { type: string })[];
  stop_reason?: string | null;
  usage?: WireUsage;
}

/** Tool arguments as the API wants them: an object (malformed JSON from an earlier answer is kept as text). */
function toolInput(args: string): unknown {
  try {
    const parsed: unknown = JSON.parse(args);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : { value: parsed };
  } catch {
    return { _raw: args };
  }
}

/** The system prompt and the alternating messages of a transcript. */
export function toAnthropicMessages(messages: readonly ChatMessage[]): { system: string | undefined; messages: WireMessage[] } {
  const system: string[] = [];
  const out: WireMessage[] = [];
  const push = (role: WireMessage['role'], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = out.at(-1);
    // Consecutive turns of one role are one message (tool results after one assistant turn, above all).
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    switch (m.role) {
      case 'system':
        system.push(m.content);
        break;
      case 'user':
        push('user', m.content === '' ? [] : [{ type: 'text', text: m.content }]);
        break;
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content: m.content }]);
        break;
      case 'assistant': {
        const blocks: Block[] = m.content ? [{ type: 'text', text: m.content }] : [];
        for (const c of m.tool_calls ?? []) blocks.push({ type: 'tool_use', id: c.id, name: c.function.name, input: toolInput(c.function.arguments) });
        push('assistant', blocks);
        break;
      }
    }
  }
  return { system: system.length > 0 ? system.join('\n\n') : undefined, messages: out };
}

/** OpenAI function tools as Anthropic tools. */
function toAnthropicTools(tools: readonly unknown[]): unknown[] {
  return tools.map((t) => {
    const fn = (t as { function?: { name?: string; description?: string; parameters?: unknown } }).function ?? {};
    return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), input_schema: fn.parameters ?? { type: 'object' } };
  });
}

function usageOf(u: WireUsage): TokenUsage {
  const read = u.cache_read_input_tokens ?? 0;
  const written = u.cache_creation_input_tokens ?? 0;
  return { inputTokens: (u.input_tokens ?? 0) + read + written, outputTokens: u.output_tokens ?? 0, cachedInputTokens: read, cacheWriteInputTokens: written };
}

function finishReason(stop: string | null | undefined): string {
  if (stop === 'tool_use') return 'tool_calls';
  if (stop === 'max_tokens') return 'length';
  return 'stop';
}

/** An error event inside a stream, classified like its HTTP status would be. */
function streamError(provider: string, data: string, partial: boolean): LlmError {
  let type = 'api_error';
  let message = data.slice(0, 300);
  try {
    const parsed = JSON.parse(data) as { error?: { type?: string; message?: string } };
    type = parsed.error?.type ?? type;
    message = parsed.error?.message ?? message;
  } catch {
    // not JSON: keep the raw text
  }
  const cls = type === 'rate_limit_error' ? 'rate_limit' : type === 'invalid_request_error' ? 'bad_request' : 'server_error';
  return new LlmError(cls, `${provider} streamed ${type}: ${message}`, { provider, partial });
}

/** One Anthropic deployment (Messages API). */
export class AnthropicProvider implements ChatProvider {
  readonly #o: AnthropicOptions;

  constructor(options: AnthropicOptions) {
    this.#o = Object.freeze({ ...options, baseUrl: options.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '') });
  }

  async complete(request: ChatRequest): Promise<ChatAnswer> {
    const { system, messages } = toAnthropicMessages(request.messages);
    const body: Record<string, unknown> = { model: request.model, max_tokens: request.maxOutputTokens ?? this.#o.defaultMaxTokens ?? 4096, messages };
    if (system !== undefined) body.system = system;
    if (request.tools && request.tools.length > 0) body.tools = toAnthropicTools(request.tools);
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.stream) body.stream = true;
    const key = this.#o.apiKey?.();
    const { call, response } = await HttpCall.post({
      provider: this.#o.name,
      model: request.model,
      url: `${this.#o.baseUrl}/v1/messages`,
      headers: { 'anthropic-version': ANTHROPIC_VERSION, ...(key ? { 'x-api-key': key } : {}) },
      body,
      timeoutMs: this.#o.timeoutMs,
      signal: request.signal,
      fetch: this.#o.fetch,
    });
    if (request.stream) return this.#readStream(call, response, request);
    const parsed = await call.json<WireResponse>(response);
    if (!Array.isArray(parsed.content)) throw new LlmError('server_error', `${this.#o.name} answered without content`, { provider: this.#o.name });
    const text: string[] = [];
    const toolCalls: ChatAnswer['toolCalls'][number][] = [];
    for (const block of parsed.content) {
      if (block.type === 'text' && 'text' in block) text.push(block.text ?? '');
      if (block.type === 'tool_use' && 'input' in block) {
        toolCalls.push({ id: block.id ?? `toolu_${toolCalls.length}`, name: block.name ?? '', arguments: JSON.stringify(block.input ?? {}) });
      }
    }
    return {
      content: text.length > 0 ? text.join('') : null,
      toolCalls,
      finishReason: finishReason(parsed.stop_reason),
      usage: usageOf(parsed.usage ?? {}),
    };
  }

  async #readStream(call: HttpCall, response: Response, request: ChatRequest): Promise<ChatAnswer> {
    const provider = this.#o.name;
    if (!response.body) throw new LlmError('server_error', `${provider} answered a stream without a body`, { provider });
    let text = '';
    let sawText = false;
    let usage: WireUsage = {};
    let stop: string | null | undefined;
    let ended = false;
    let pieces = 0;
    const blocks = new Map<number, { id: string; name: string; json: string }>();
    try {
      for await (const event of readSse(response.body)) {
        if (event.event === 'error') throw streamError(provider, event.data, pieces > 0);
        if (event.event === 'ping') continue;
        const data = JSON.parse(event.data) as {
          type?: string;
          index?: number;
          message?: { usage?: WireUsage };
          content_block?: { type?: string; id?: string; name?: string };
          delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
          usage?: WireUsage;
        };
        switch (data.type ?? event.event) {
          case 'message_start':
            usage = { ...data.message?.usage };
            break;
          case 'content_block_start':
            if (data.content_block?.type === 'tool_use') {
              blocks.set(data.index ?? blocks.size, { id: data.content_block.id ?? '', name: data.content_block.name ?? '', json: '' });
            }
            break;
          case 'content_block_delta':
            pieces++;
            if (data.delta?.type === 'text_delta' && data.delta.text) {
              text += data.delta.text;
              sawText = true;
              request.onDelta?.(data.delta.text);
            } else if (data.delta?.type === 'input_json_delta') {
              const block = blocks.get(data.index ?? -1);
              if (block) block.json += data.delta.partial_json ?? '';
            }
            break;
          case 'message_delta':
            stop = data.delta?.stop_reason;
            usage = { ...usage, ...data.usage };
            break;
          case 'message_stop':
            ended = true;
            break;
        }
        if (ended) break;
      }
    } catch (err) {
      throw call.failure(err instanceof SyntaxError ? new LlmError('server_error', `${provider} streamed an event that is not JSON`, { provider, partial: pieces > 0 }) : err, pieces > 0);
    }
    if (!ended) {
      await response.body.cancel().catch(() => {});
      throw new LlmError('unavailable', `${provider}: the stream ended before message_stop (${pieces} deltas)`, { provider, partial: pieces > 0 });
    }
    return {
      content: sawText ? text : null,
      toolCalls: [...blocks.values()].map((b) => ({ id: b.id, name: b.name, arguments: b.json === '' ? '{}' : b.json })),
      finishReason: finishReason(stop),
      usage: usageOf(usage),
    };
  }
}

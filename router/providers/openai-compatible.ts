/**
 * Chat Completions and Embeddings over HTTP for any OpenAI-compatible server:
 * OpenAI itself, Ollama, vLLM, llama.cpp, LiteLLM, and the mock LLM. JSON or
 * streamed (SSE, usage asked with stream_options.include_usage). Errors are
 * classified; retries and fallbacks are the router's (router/attempts.ts).
 */
import { LlmError } from '../errors.js';
import { countTextTokens, estimatePromptTokens } from '../tokens.js';
import type { ChatAnswer, ChatProvider, ChatRequest, EmbedAnswer, EmbedRequest, TokenUsage } from '../types.js';
import { HttpCall, readSse } from './http.js';

export interface OpenAiCompatibleOptions {
  readonly name: string;
  readonly baseUrl: string;
  readonly apiKey?: (() => string) | undefined;
  readonly timeoutMs: number;
  readonly passMetadata: boolean;
  readonly fetch?: typeof fetch | undefined;
}

interface WireToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

interface WireResponse {
  choices?: { message?: { content?: string | null; tool_calls?: WireToolCall[] }; finish_reason?: string }[];
  usage?: WireUsage;
}

interface WireChunk {
  choices?: { delta?: { content?: string | null; tool_calls?: WireToolCall[] }; finish_reason?: string | null }[];
  usage?: WireUsage | null;
  error?: { message?: string };
}

function usageOf(usage: WireUsage): TokenUsage {
  return {
    inputTokens: usage.prompt_tokens ?? 0,
    outputTokens: usage.completion_tokens ?? 0,
    cachedInputTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

/** One OpenAI-compatible deployment: chat completions and embeddings. */
export class OpenAiCompatibleProvider implements ChatProvider {
  readonly #o: OpenAiCompatibleOptions;

  constructor(options: OpenAiCompatibleOptions) {
    this.#o = Object.freeze({ ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') });
  }

  #post(path: string, model: string, body: unknown, signal: AbortSignal | undefined) {
    const key = this.#o.apiKey?.();
    return HttpCall.post({
      provider: this.#o.name,
      model,
      url: `${this.#o.baseUrl}${path}`,
      headers: key ? { authorization: `Bearer ${key}` } : {},
      body,
      timeoutMs: this.#o.timeoutMs,
      signal,
      fetch: this.#o.fetch,
    });
  }

  async complete(request: ChatRequest): Promise<ChatAnswer> {
    const body: Record<string, unknown> = { model: request.model, messages: request.messages };
    if (request.tools && request.tools.length > 0) {
      body.tools = request.tools;
      body.tool_choice = 'auto';
    }
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.maxOutputTokens !== undefined) body.max_tokens = request.maxOutputTokens;
    if (this.#o.passMetadata && request.metadata) body.metadata = request.metadata;
    if (request.stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    const { call, response } = await this.#post('/chat/completions', request.model, body, request.signal);
    return request.stream ? this.#readStream(call, response, request) : this.#readJson(call, response);
  }

  async #readJson(call: HttpCall, response: Response): Promise<ChatAnswer> {
    const { name } = this.#o;
    const parsed = await call.json<WireResponse>(response);
    const choice = parsed.choices?.[0];
    if (!choice?.message) throw new LlmError('server_error', `${name} answered without choices`, { provider: name });
    return {
      content: choice.message.content ?? null,
      toolCalls: (choice.message.tool_calls ?? []).map((c, i) => ({
        id: c.id ?? `call_${i}`,
        name: c.function?.name ?? '',
        arguments: c.function?.arguments ?? '',
      })),
      finishReason: choice.finish_reason ?? 'stop',
      usage: usageOf(parsed.usage ?? {}),
    };
  }

  async #readStream(call: HttpCall, response: Response, request: ChatRequest): Promise<ChatAnswer> {
    const { name } = this.#o;
    let content = '';
    let sawContent = false;
    let finishReason: string | undefined;
    let usage: WireUsage | undefined;
    let done = false;
    let tokens = 0;
    const calls: { id?: string; name: string; arguments: string }[] = [];
    if (!response.body) throw new LlmError('server_error', `${name} answered a stream without a body`, { provider: name });
    try {
      for await (const event of readSse(response.body)) {
        if (event.data === '[DONE]') {
          done = true;
          break;
        }
        let chunk: WireChunk;
        try {
          chunk = JSON.parse(event.data) as WireChunk;
        } catch {
          throw new LlmError('server_error', `${name} streamed a chunk that is not JSON: ${event.data.slice(0, 200)}`, { provider: name, partial: tokens > 0 });
        }
        if (chunk.error) throw new LlmError('server_error', `${name} streamed an error: ${chunk.error.message ?? 'unknown'}`, { provider: name, partial: tokens > 0 });
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        if (choice.finish_reason) finishReason = choice.finish_reason;
        const delta = choice.delta;
        if (delta?.content) {
          content += delta.content;
          sawContent = true;
          tokens++;
          request.onDelta?.(delta.content);
        }
        for (const part of delta?.tool_calls ?? []) {
          const slot = (calls[part.index ?? 0] ??= { name: '', arguments: '' });
          if (part.id) slot.id = part.id;
          if (part.function?.name) slot.name += part.function.name;
          if (part.function?.arguments) slot.arguments += part.function.arguments;
          tokens++;
        }
      }
    } catch (err) {
      throw call.failure(err, tokens > 0);
    }
    if (!done && finishReason === undefined) {
      await response.body.cancel().catch(() => {});
      throw new LlmError('unavailable', `${name}: the stream ended before the answer did (${tokens} chunks)`, { provider: name, partial: tokens > 0 });
    }
    const toolCalls = calls.map((c, i) => ({ id: c.id ?? `call_${i}`, name: c.name, arguments: c.arguments }));
    const estimated = usage === undefined;
    return {
      content: sawContent || toolCalls.length === 0 ? content : null,
      toolCalls,
      finishReason: finishReason ?? 'stop',
      usage: usage
        ? usageOf(usage)
        : {
            inputTokens: estimatePromptTokens(request.messages, request.tools),
            outputTokens: countTextTokens(content) + toolCalls.reduce((n, c) => n + countTextTokens(c.name) + countTextTokens(c.arguments), 0),
            cachedInputTokens: 0,
          },
      ...(estimated ? { usageEstimated: true } : {}),
    };
  }

  async embed(request: EmbedRequest): Promise<EmbedAnswer> {
    const { name } = this.#o;
    const { call, response } = await this.#post('/embeddings', request.model, { model: request.model, input: request.input }, request.signal);
    const parsed = await call.json<{ data?: { index?: number; embedding?: number[] }[]; usage?: { prompt_tokens?: number } }>(response);
    const data = parsed.data ?? [];
    const vectors: number[][] = [];
    data.forEach((d, i) => {
      vectors[d.index ?? i] = d.embedding ?? [];
    });
    if (vectors.length !== request.input.length || vectors.some((v) => v === undefined)) {
      throw new LlmError('server_error', `${name} answered ${data.length} embeddings for ${request.input.length} inputs`, { provider: name });
    }
    return { vectors, inputTokens: parsed.usage?.prompt_tokens ?? 0 };
  }
}

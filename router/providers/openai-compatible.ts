/**
 * Chat Completions over HTTP for any OpenAI-compatible server: OpenAI itself,
 * Ollama, vLLM, llama.cpp, LiteLLM, and the mock LLM. Retries are not done
 * here: errors are classified and Temporal retries the activity.
 */
import { classifyStatus, LlmError } from '../errors.js';
import type { ChatAnswer, ChatProvider, ChatRequest } from '../types.js';

export interface OpenAiCompatibleOptions {
  readonly name: string;
  readonly baseUrl: string;
  readonly apiKey?: (() => string) | undefined;
  readonly timeoutMs: number;
  readonly passMetadata: boolean;
  readonly fetch?: typeof fetch;
}

interface WireToolCall {
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface WireResponse {
  choices?: { message?: { content?: string | null; tool_calls?: WireToolCall[] }; finish_reason?: string }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export class OpenAiCompatibleProvider implements ChatProvider {
  readonly #o: OpenAiCompatibleOptions;

  constructor(options: OpenAiCompatibleOptions) {
    this.#o = Object.freeze({ ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') });
  }

  async complete(request: ChatRequest): Promise<ChatAnswer> {
    const { name } = this.#o;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const key = this.#o.apiKey?.();
    if (key) headers.authorization = `Bearer ${key}`;
    const body: Record<string, unknown> = { model: request.model, messages: request.messages };
    if (request.tools && request.tools.length > 0) {
      body.tools = request.tools;
      body.tool_choice = 'auto';
    }
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (this.#o.passMetadata && request.metadata) body.metadata = request.metadata;

    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await (this.#o.fetch ?? fetch)(`${this.#o.baseUrl}/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal,
      });
      // A body that stalls or breaks counts like a failed connection.
      text = await response.text();
    } catch (err) {
      if (timeout.aborted) throw new LlmError('timeout', `${name}: no answer within ${this.#o.timeoutMs} ms`, { provider: name });
      if (request.signal?.aborted) throw err;
      throw new LlmError('unavailable', `${name}: ${(err as Error).message}`, { provider: name });
    }
    if (!response.ok) {
      throw new LlmError(classifyStatus(response.status, text), `${name} answered ${response.status}: ${text.slice(0, 500)}`, {
        provider: name,
        model: request.model,
        status: response.status,
        retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
      });
    }
    let parsed: WireResponse;
    try {
      parsed = JSON.parse(text) as WireResponse;
    } catch {
      throw new LlmError('server_error', `${name} answered a body that is not JSON: ${text.slice(0, 200)}`, { provider: name });
    }
    const choice = parsed.choices?.[0];
    if (!choice?.message) throw new LlmError('server_error', `${name} answered without choices`, { provider: name });
    const usage = parsed.usage ?? {};
    return {
      content: choice.message.content ?? null,
      toolCalls: (choice.message.tool_calls ?? []).map((call, i) => ({
        id: call.id ?? `call_${i}`,
        name: call.function?.name ?? '',
        arguments: call.function?.arguments ?? '',
      })),
      finishReason: choice.finish_reason ?? 'stop',
      usage: {
        inputTokens: usage.prompt_tokens ?? 0,
        outputTokens: usage.completion_tokens ?? 0,
        cachedInputTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
      },
    };
  }
}

/**
 * One HTTP call to a provider, shared by the provider kinds: a timeout over
 * the whole exchange (body and stream included), errors classified into
 * LlmError classes, Retry-After read, and Server-Sent Events parsed.
 */
import { classifyStatus, LlmError, retryAfterMs } from '../errors.js';

export interface HttpCallOptions {
  readonly provider: string;
  readonly model?: string | undefined;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly fetch?: typeof fetch | undefined;
}

/** A call in progress: its response, and how a failure of its body maps to an LlmError. */
export class HttpCall {
  readonly #o: HttpCallOptions;
  readonly #timeout: AbortSignal;
  readonly signal: AbortSignal;

  private constructor(options: HttpCallOptions) {
    this.#o = options;
    this.#timeout = AbortSignal.timeout(options.timeoutMs);
    this.signal = options.signal ? AbortSignal.any([options.signal, this.#timeout]) : this.#timeout;
  }

  /** Sends the request; an error status throws its classified LlmError. */
  static async post(options: HttpCallOptions): Promise<{ call: HttpCall; response: Response }> {
    const call = new HttpCall(options);
    let response: Response;
    try {
      response = await (options.fetch ?? fetch)(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.headers },
        body: JSON.stringify(options.body),
        signal: call.signal,
      });
    } catch (err) {
      throw call.failure(err);
    }
    if (!response.ok) {
      const text = await call.text(response);
      throw new LlmError(classifyStatus(response.status, text), `${options.provider} answered ${response.status}: ${text.slice(0, 500)}`, {
        provider: options.provider,
        ...(options.model !== undefined ? { model: options.model } : {}),
        status: response.status,
        retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
      });
    }
    return { call, response };
  }

  /** The LlmError for a failed exchange; the caller's own abort is passed through. */
  failure(err: unknown, partial = false): unknown {
    const { provider } = this.#o;
    if (err instanceof LlmError) return err;
    if (this.#timeout.aborted) return new LlmError('timeout', `${provider}: no answer within ${this.#o.timeoutMs} ms`, { provider, partial });
    if (this.#o.signal?.aborted) return err;
    return new LlmError('unavailable', `${provider}: ${(err as Error).message}`, { provider, partial });
  }

  /** The whole body as text; a body that stalls or breaks counts like a failed connection. */
  async text(response: Response): Promise<string> {
    try {
      return await response.text();
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** The body parsed as JSON; anything else is a server error. */
  async json<T>(response: Response): Promise<T> {
    const text = await this.text(response);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LlmError('server_error', `${this.#o.provider} answered a body that is not JSON: ${text.slice(0, 200)}`, { provider: this.#o.provider });
    }
  }
}

/** One Server-Sent Event. */
export interface SseEvent {
  readonly event: string | undefined;
  readonly data: string;
}

/** The events of an SSE body, as they arrive. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n/g, '\n');
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event: string | undefined;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length > 0) yield { event, data: data.join('\n') };
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

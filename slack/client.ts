/**
 * The few Slack Web API methods we call (chat.postMessage, chat.update), over
 * plain HTTP. The base URL is configurable so tests point it at a local fake
 * Slack. Slack answers 200 with `ok: false` for most errors; those are
 * classified here so callers know whether a retry can help.
 */
export interface SlackMessage {
  readonly channel: string;
  readonly text: string;
  readonly blocks: readonly unknown[];
}

export class SlackApiError extends Error {
  override readonly name = 'SlackApiError';
  constructor(
    readonly method: string,
    readonly error: string,
    readonly retryable: boolean,
  ) {
    super(`Slack ${method} failed: ${error}`);
  }
}

/** Errors a later attempt cannot fix. */
const PERMANENT = new Set(['channel_not_found', 'not_in_channel', 'invalid_auth', 'not_authed', 'account_inactive', 'missing_scope', 'message_not_found', 'invalid_blocks', 'msg_too_long']);

export interface SlackClientOptions {
  readonly baseUrl: string;
  readonly token: () => string;
  readonly timeoutMs?: number;
}

export class SlackClient {
  constructor(private readonly options: SlackClientOptions) {}

  async #call(method: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    let response: Response;
    let json: Record<string, unknown>;
    try {
      response = await fetch(`${this.options.baseUrl.replace(/\/$/, '')}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${this.options.token()}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      json = (await response.json()) as Record<string, unknown>;
    } catch (err) {
      throw new SlackApiError(method, (err as Error).message, true);
    }
    if (response.status === 429 || response.status >= 500) throw new SlackApiError(method, `HTTP ${response.status}`, true);
    if (json.ok !== true) {
      const error = typeof json.error === 'string' ? json.error : `HTTP ${response.status}`;
      throw new SlackApiError(method, error, !PERMANENT.has(error));
    }
    return json;
  }

  /** Posts a message; returns where it landed (channel id and ts, needed to update it). */
  async postMessage(message: SlackMessage): Promise<{ channel: string; ts: string }> {
    const res = await this.#call('chat.postMessage', { channel: message.channel, text: message.text, blocks: message.blocks });
    return { channel: String(res.channel ?? message.channel), ts: String(res.ts) };
  }

  async updateMessage(message: SlackMessage & { ts: string }): Promise<void> {
    await this.#call('chat.update', { channel: message.channel, ts: message.ts, text: message.text, blocks: message.blocks });
  }
}

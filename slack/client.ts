/**
 * The few Slack Web API methods we call (chat.postMessage, chat.update, and
 * the files.uploadV2 flow for text too long for a message), over plain HTTP. The base URL is configurable so tests point it at a local fake
 * Slack. Slack answers 200 with `ok: false` for most errors; those are
 * classified here so callers know whether a retry can help.
 */
/** A text file shared in the channel (Slack shows it as a snippet). */
export interface SlackFile {
  readonly filename: string;
  readonly title: string;
  readonly content: string;
}

export interface SlackMessage {
  readonly channel: string;
  readonly text: string;
  readonly blocks: readonly unknown[];
  /** Uploaded to the channel before the first post only (an update does not repeat them). */
  readonly files?: readonly SlackFile[];
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

  /** The files.* methods take form fields (JSON-valued fields as strings), as Slack documents them. */
  async #call(method: string, body: Record<string, unknown>, form = false): Promise<Record<string, unknown>> {
    let response: Response;
    let json: Record<string, unknown>;
    try {
      const encoded = form
        ? new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString()
        : JSON.stringify(body);
      response = await fetch(`${this.options.baseUrl.replace(/\/$/, '')}/${method}`, {
        method: 'POST',
        headers: {
          'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json; charset=utf-8',
          authorization: `Bearer ${this.options.token()}`,
        },
        body: encoded,
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

  /**
   * Posts a message's files, then the message; returns where it landed
   * (channel id and ts, needed to update it). Files go first: a failed post
   * is retried by the caller, and a repeated file is better than a repeated
   * message with buttons.
   */
  async postMessage(message: SlackMessage): Promise<{ channel: string; ts: string }> {
    for (const file of message.files ?? []) await this.#uploadFile(file, message.channel);
    const res = await this.#call('chat.postMessage', { channel: message.channel, text: message.text, blocks: message.blocks });
    return { channel: String(res.channel ?? message.channel), ts: String(res.ts) };
  }

  /** files.uploadV2 as Slack's SDK does it: get an upload URL, send the bytes, complete into the channel. */
  async #uploadFile(file: SlackFile, channel: string): Promise<void> {
    const bytes = Buffer.from(file.content, 'utf8');
    const target = await this.#call('files.getUploadURLExternal', { filename: file.filename, length: String(bytes.length) }, true);
    const uploadUrl = String(target.upload_url);
    try {
      const response = await fetch(uploadUrl, { method: 'POST', body: bytes, signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (err) {
      throw new SlackApiError('files.upload', (err as Error).message, true);
    }
    await this.#call(
      'files.completeUploadExternal',
      { files: [{ id: String(target.file_id), title: file.title }], channel_id: channel },
      true,
    );
  }

  async updateMessage(message: SlackMessage & { ts: string }): Promise<void> {
    await this.#call('chat.update', { channel: message.channel, ts: message.ts, text: message.text, blocks: message.blocks });
  }
}

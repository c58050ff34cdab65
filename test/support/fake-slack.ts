/**
 * A local fake of the Slack Web API (chat.postMessage, chat.update, and the
 * files.uploadV2 flow: files.getUploadURLExternal, the upload URL,
 * files.completeUploadExternal) that records every call and every uploaded
 * file, and can be switched into an outage (HTTP 503).
 * Also signs interaction payloads the way Slack does.
 */
import { createServer, type Server } from 'node:http';
import { slackSignature } from '../../slack/signature.js';

export interface SlackCall {
  readonly method: string;
  /** JSON bodies as sent; form bodies (files.*) as their fields. */
  readonly body: { channel?: string; ts?: string; text?: string; blocks?: unknown[]; [field: string]: unknown };
  readonly authorization: string | undefined;
  readonly failed: boolean;
}

export interface SlackUpload {
  readonly fileId: string;
  readonly filename: string;
  content?: string;
  /** Set by files.completeUploadExternal. */
  channel?: string;
  title?: string;
}

export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly uploads: SlackUpload[] = [];
  down = false;
  /** How long each Web API answer takes (a slow Slack). */
  latencyMs = 0;
  #server: Server | undefined;
  #ts = 1000;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        const method = (req.url ?? '').replace(/^\//, '');
        if (method.startsWith('upload/')) {
          const upload = this.uploads.find((u) => `upload/${u.fileId}` === method);
          if (upload) upload.content = raw;
          res.writeHead(upload ? 200 : 404).end(upload ? 'OK' : 'no such upload');
          return;
        }
        const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded');
        const body = (form ? Object.fromEntries(new URLSearchParams(raw)) : JSON.parse(raw || '{}')) as SlackCall['body'];
        this.calls.push({ method, body, authorization: req.headers.authorization, failed: this.down });
        if (this.down) {
          res.writeHead(503).end('service unavailable');
          return;
        }
        const answer = JSON.stringify(this.#answer(method, body));
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(answer), this.latencyMs);
      });
    });
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', () => r()));
    const address = this.#server?.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  #answer(method: string, body: SlackCall['body']): Record<string, unknown> {
    if (method === 'files.getUploadURLExternal') {
      const fileId = `F${++this.#ts}`;
      this.uploads.push({ fileId, filename: String(body.filename) });
      return { ok: true, upload_url: `${this.url}/upload/${fileId}`, file_id: fileId };
    }
    if (method === 'files.completeUploadExternal') {
      const files = JSON.parse(String(body.files)) as { id: string; title?: string }[];
      for (const f of files) {
        const upload = this.uploads.find((u) => u.fileId === f.id);
        if (!upload) return { ok: false, error: 'file_not_found' };
        Object.assign(upload, { channel: String(body.channel_id), title: f.title });
      }
      return { ok: true, files: files.map((f) => ({ id: f.id, title: f.title })) };
    }
    const ts = method === 'chat.postMessage' ? `${++this.#ts}.000100` : body.ts;
    return { ok: true, channel: 'C0APPROVALS', ts };
  }

  ok(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method && !c.failed);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}

/** A Slack interactivity request (form body + signature headers) for a button click. */
export function signedClick(
  secret: string,
  click: { slackUser: string; action: 'approve' | 'reject'; sessionId: string; gateId: string },
  timestamp = Math.floor(Date.now() / 1000),
): { body: string; headers: Record<string, string> } {
  const payload = {
    type: 'block_actions',
    user: { id: click.slackUser },
    trigger_id: `${timestamp}.${Math.random()}`,
    actions: [{ action_id: click.action, value: JSON.stringify({ sessionId: click.sessionId, gateId: click.gateId }) }],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(secret, String(timestamp), body),
    },
  };
}

/**
 * A local fake of the Slack Web API (chat.postMessage, chat.update) that
 * records every call, and can be switched into an outage (HTTP 503).
 * Also signs interaction payloads the way Slack does.
 */
import { createServer, type Server } from 'node:http';
import { slackSignature } from '../../slack/signature.js';

export interface SlackCall {
  readonly method: string;
  readonly body: { channel?: string; ts?: string; text?: string; blocks?: unknown[] };
  readonly authorization: string | undefined;
  readonly failed: boolean;
}

export class FakeSlack {
  readonly calls: SlackCall[] = [];
  down = false;
  #server: Server | undefined;
  #ts = 1000;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        const method = (req.url ?? '').replace(/^\//, '');
        const body = JSON.parse(raw || '{}') as SlackCall['body'];
        this.calls.push({ method, body, authorization: req.headers.authorization, failed: this.down });
        if (this.down) {
          res.writeHead(503).end('service unavailable');
          return;
        }
        const ts = method === 'chat.postMessage' ? `${++this.#ts}.000100` : body.ts;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, channel: 'C0APPROVALS', ts }));
      });
    });
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', () => r()));
    const address = this.#server?.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
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

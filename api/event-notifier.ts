/**
 * One LISTEN connection per API process, fanned out to the SSE streams of
 * each session. If the connection drops, it reconnects with backoff, and
 * streams fall back to short polling meanwhile, so nothing is missed.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';

export const EVENTS_CHANNEL = 'session_events';

export interface Subscription {
  /** Resolves on the next notification for the session or after `ms`, whichever is first. */
  wait(ms: number): Promise<void>;
  close(): void;
}

export class EventNotifier {
  readonly #emitter = new EventEmitter();
  #client: pg.Client | undefined;
  #closed = false;
  #retryMs = 500;
  #connected = false;

  constructor(private readonly databaseUrl: string) {
    this.#emitter.setMaxListeners(0);
  }

  /** True while LISTEN is active; streams poll faster when it is not. */
  get connected(): boolean {
    return this.#connected;
  }

  async start(): Promise<void> {
    await this.#connect().catch(() => this.#scheduleReconnect());
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'kortix-api-listen', connectionTimeoutMillis: 5_000 });
    client.on('notification', (msg) => {
      if (msg.channel === EVENTS_CHANNEL && msg.payload) this.#emitter.emit(msg.payload);
    });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.#client = client;
    this.#connected = true;
    this.#retryMs = 500;
    // Anything written while disconnected: wake every stream once.
    this.#emitter.emit('*');
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#connected = false;
    client.end().catch(() => {});
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, 10_000);
    setTimeout(() => {
      if (!this.#closed) this.#connect().catch(() => this.#scheduleReconnect());
    }, delay).unref();
  }

  subscribe(sessionId: string): Subscription {
    let wake: (() => void) | undefined;
    // A notification that arrives while the stream is busy writing is kept for its next wait.
    let pending = false;
    const onEvent = () => {
      if (wake) wake();
      else pending = true;
    };
    this.#emitter.on(sessionId, onEvent);
    this.#emitter.on('*', onEvent);
    return {
      wait: (ms) =>
        new Promise<void>((resolve) => {
          if (pending) {
            pending = false;
            resolve();
            return;
          }
          const timer = setTimeout(done, ms);
          function done() {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = done;
        }),
      close: () => {
        this.#emitter.off(sessionId, onEvent);
        this.#emitter.off('*', onEvent);
        wake?.();
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#connected = false;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}

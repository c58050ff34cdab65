/**
 * The allowlisting egress proxy of sandboxes whose policy names hosts: an
 * HTTP proxy (CONNECT for TLS, absolute-form requests for plain HTTP) that
 * knows each sandbox by its source address and lets it reach only the hosts
 * its session's policy allows, or that were granted to it after approval
 * (`network.approve`, see egress.ts). Anything else is answered 403 with the
 * reason; a host that may be approved is refused with how to ask for it.
 *
 * The proxy, not the sandbox, resolves names: every address a name resolves
 * to is checked before connecting (none may be internal: DNS decides where an
 * allowed name points), and the connection goes to the checked address, never
 * through a second lookup (DNS rebinding). A sandbox holds at most
 * `maxConnectionsPerSandbox` connections to the proxy, and a connection or
 * tunnel with no traffic for `idleTimeoutMs` is closed.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { addressAllowed, matchAllowlist, type AllowEntry } from './allowlist.js';
import type { SecretBroker } from './egress-broker.js';
import { DEFAULT_PORTS } from '../policies/host-patterns.js';
import { addressLiteral } from '../policies/internal-address.js';

export interface EgressProxyOptions {
  readonly host: string;
  readonly port: number;
  /** The allowlist of the sandbox at this source address; undefined when no sandbox is known there. */
  readonly allowlistFor: (sourceAddress: string) => Promise<readonly AllowEntry[] | undefined>;
  /**
   * The hosts the sandbox at this address may reach only once approved (its policy's `network.approve`).
   * A target there that `allowlistFor` does not cover yet is refused with how to ask for it.
   */
  readonly approvalFor?: ((sourceAddress: string) => Promise<readonly AllowEntry[]>) | undefined;
  /** Resolves a name to its addresses (default: the system resolver, every address). */
  readonly lookup?: ((host: string) => Promise<string | readonly string[]>) | undefined;
  /**
   * Internal addresses a name may still lead to. Only tests set it (their "internet" is servers on
   * this machine); no configuration variable does.
   */
  readonly internalAllowed?: readonly string[] | undefined;
  readonly logger?: Logger | undefined;
  readonly connectTimeoutMs?: number | undefined;
  /** Connections one sandbox (source address) may hold to the proxy at once; more are answered 429. */
  readonly maxConnectionsPerSandbox?: number | undefined;
  /** A connection or tunnel with no traffic either way for this long is closed. */
  readonly idleTimeoutMs?: number | undefined;
  /** Adds bound secrets to requests for their hosts (sandbox/egress-broker.ts); without it nothing is added. */
  readonly broker?: SecretBroker | undefined;
  /**
   * Told of every refusal (source address, target, status, reason): the host keeps the recent ones per
   * sandbox, so a tool whose client shows only "tunnel failed" (a browser following a redirect) can say why.
   */
  readonly onRefused?: ((refusal: EgressRefusal) => void) | undefined;
}

/** One request the proxy refused. */
export interface EgressRefusal {
  readonly source: string;
  readonly target: string;
  readonly status: number;
  readonly reason: string;
  /** Date.now() when it was refused. */
  readonly at: number;
}

/** The header of a refusal carrying its reason (ASCII), for clients that show a status but not a body. */
export const REFUSED_HEADER = 'x-kortix-egress-refused';

/** A reason as a header value: printable ASCII only, bounded. */
const headerSafe = (reason: string) => reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 500);

export const EGRESS_DEFAULTS = { maxConnectionsPerSandbox: 64, idleTimeoutMs: 5 * 60_000 } as const;

const systemLookup = async (host: string): Promise<string[]> => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

type Verdict = { ok: true; address: string } | { ok: false; status: 400 | 403 | 429 | 502; reason: string };

const HOP_BY_HOP = ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

function splitHostPort(target: string, defaultPort: number): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:/]+)(?::(\d{1,5}))?$/.exec(target);
  if (!m?.[1]) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

export class EgressProxy {
  readonly #options: EgressProxyOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Duplex>();
  /** Open client connections per source address. */
  readonly #perSource = new Map<string, number>();
  readonly #internalAllowed: ReadonlySet<string>;
  readonly #maxPerSandbox: number;
  readonly #idleMs: number;

  constructor(options: EgressProxyOptions) {
    this.#options = options;
    this.#internalAllowed = new Set(options.internalAllowed ?? []);
    this.#maxPerSandbox = options.maxConnectionsPerSandbox ?? EGRESS_DEFAULTS.maxConnectionsPerSandbox;
    this.#idleMs = options.idleTimeoutMs ?? EGRESS_DEFAULTS.idleTimeoutMs;
    this.#server = createServer((req, res) => void this.#onRequest(req, res));
    this.#server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#onConnect(req, socket, head));
    this.#server.on('connection', (s: Socket) => this.#onConnection(s));
  }

  /** Counts the sandbox's connections (refusing one over the cap) and closes any that go idle. */
  #onConnection(s: Socket): void {
    this.#track(s);
    const source = (s.remoteAddress ?? '').replace(/^::ffff:/, '');
    const open = this.#perSource.get(source) ?? 0;
    if (open >= this.#maxPerSandbox) {
      this.#options.logger?.info('egress refused', { source, status: 429, reason: 'connection cap' });
      const body = `kortix egress proxy: this sandbox already holds ${open} connections (the most is ${this.#maxPerSandbox})\n`;
      s.end(`HTTP/1.1 429 Too Many Connections\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    this.#perSource.set(source, open + 1);
    s.once('close', () => {
      const left = (this.#perSource.get(source) ?? 1) - 1;
      if (left > 0) this.#perSource.set(source, left);
      else this.#perSource.delete(source);
    });
    // Activity either way (a download, an upload) resets the timer; a tunnel nobody uses is closed.
    s.setTimeout(this.#idleMs, () => s.destroy());
  }

  /** Listens; resolves with the bound port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : this.#options.port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(s: Duplex): void {
    this.#sockets.add(s);
    s.on('close', () => this.#sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  /** Allowed target, resolved and checked; or why not. */
  async #judge(source: string, rawHost: string, port: number): Promise<Verdict> {
    const entries = await this.#options.allowlistFor(source);
    if (!entries) return { ok: false, status: 403, reason: `no sandbox with network access is known at ${source}` };
    // `0xA9FEA9FE` or `2130706433` is an address, not a name, whatever the request calls it.
    const literal = addressLiteral(rawHost);
    const host = literal ?? rawHost;
    const entry = matchAllowlist(entries, host, port);
    if (!entry) {
      // A host the policy lets people approve is never let through before a grant; the agent is told how to ask.
      if (matchAllowlist((await this.#options.approvalFor?.(source)) ?? [], host, port)) {
        const ask = DEFAULT_PORTS.includes(port) ? `host ${host}` : `host ${host} and port ${port}`;
        return { ok: false, status: 403, reason: `${host}:${port} needs approval: call the request_network tool with ${ask} and the reason, then retry` };
      }
      return { ok: false, status: 403, reason: `${rawHost}:${port} is not allowed by the session's policy (network.allow)` };
    }
    let addresses: readonly string[];
    if (literal) addresses = [literal];
    else {
      try {
        const found = await (this.#options.lookup ?? systemLookup)(host);
        addresses = typeof found === 'string' ? [found] : found;
      } catch (err) {
        return { ok: false, status: 502, reason: `cannot resolve ${host}: ${(err as Error).message}` };
      }
      if (addresses.length === 0) return { ok: false, status: 502, reason: `cannot resolve ${host}: no address` };
    }
    // Every address, not only the first: a name with one public and one internal record is refused.
    const internal = addresses.find((a) => !addressAllowed(entry, a) && !this.#internalAllowed.has(a));
    if (internal !== undefined) {
      return { ok: false, status: 403, reason: `${host} resolves to an internal address (${internal}), which the proxy never connects a name to` };
    }
    return { ok: true, address: addresses[0] as string };
  }

  #refused(source: string, target: string, verdict: Exclude<Verdict, { ok: true }>): string {
    this.#options.logger?.info('egress refused', { source, target, status: verdict.status, reason: verdict.reason });
    const address = source.replace(/^::ffff:/, '');
    this.#options.onRefused?.({ source: address, target: target.slice(0, 500), status: verdict.status, reason: verdict.reason, at: Date.now() });
    return `kortix egress proxy: ${verdict.reason}\n`;
  }

  async #onConnect(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    this.#track(client);
    const source = req.socket.remoteAddress ?? '';
    const target = splitHostPort(req.url ?? '', 443);
    const verdict: Verdict = target ? await this.#judge(source, target.host, target.port) : { ok: false, status: 400, reason: 'CONNECT needs host:port' };
    if (!verdict.ok || !target) {
      const body = this.#refused(source, req.url ?? '', verdict as Exclude<Verdict, { ok: true }>);
      const status = verdict.ok ? 400 : verdict.status;
      const why = verdict.ok ? 'CONNECT needs host:port' : verdict.reason;
      client.end(
        `HTTP/1.1 ${status} Refused\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${REFUSED_HEADER}: ${headerSafe(why)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    // A host with a bound secret is not tunnelled: the broker terminates TLS and adds the secret.
    const bound = await this.#options.broker?.bound(source, target.host, target.port);
    if (bound && this.#options.broker) {
      this.#options.broker.intercept(client, head, { source, host: target.host, port: target.port, address: verdict.address }, bound);
      return;
    }
    const upstream = connect({ host: verdict.address, port: target.port, timeout: this.#options.connectTimeoutMs ?? 10_000 });
    this.#track(upstream);
    const connectTimeout = () => upstream.destroy(new Error('connect timeout'));
    upstream.once('timeout', connectTimeout);
    let established = false;
    upstream.once('error', (err) => {
      // Once the tunnel carries the client's bytes, a status line would corrupt them: just close.
      if (!established && client.writable) client.end(`HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\nkortix egress proxy: ${err.message}\n`);
      client.destroy();
    });
    upstream.once('connect', () => {
      established = true;
      upstream.off('timeout', connectTimeout);
      upstream.setTimeout(this.#idleMs, () => upstream.destroy());
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const source = req.socket.remoteAddress ?? '';
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '');
    } catch {
      url = undefined;
    }
    const target = url && url.protocol === 'http:' ? splitHostPort(url.host, 80) : undefined;
    const verdict: Verdict = target
      ? await this.#judge(source, target.host, target.port)
      : { ok: false, status: 400, reason: 'send http:// URLs in absolute form, or CONNECT for https' };
    if (!verdict.ok || !target || !url) {
      const failed = verdict as Exclude<Verdict, { ok: true }>;
      const body = this.#refused(source, req.url ?? '', failed);
      res.writeHead(failed.status ?? 400, { 'content-type': 'text/plain', connection: 'close', [REFUSED_HEADER]: headerSafe(failed.reason) }).end(body);
      return;
    }
    const headers = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    let sent = headers;
    try {
      sent = (await this.#options.broker?.headersFor(source, target.host, target.port, headers)) ?? headers;
    } catch (err) {
      res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end(`kortix egress proxy: ${(err as Error).message}\n`);
      return;
    }
    const upstream = httpRequest({
      host: verdict.address,
      port: target.port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers: { ...sent, host: url.host },
      timeout: this.#options.connectTimeoutMs ?? 10_000,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`kortix egress proxy: ${err.message}\n`);
    });
    req.pipe(upstream);
  }
}

/**
 * Brokered secrets at the egress proxy: the sandbox never holds a secret's
 * value; the proxy adds it (a header built from the binding's format, or a
 * basic-auth pair) to requests bound for the hosts the secret is bound to,
 * and to no other request. Plain HTTP requests get the header rewritten in
 * passing; HTTPS to a bound host is terminated here with a certificate of the
 * deployment's CA (sandbox/egress-ca.ts, which the sandbox trusts), the
 * request rewritten, and sent on over a new TLS connection whose server is
 * checked against the system's roots (or the configured upstream CAs).
 * HTTPS to any host that no secret is bound to stays an opaque tunnel.
 *
 * Any Authorization (and the bound header) the sandbox sent to a bound host
 * is dropped first: the sandbox cannot choose what the upstream sees.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket, rootCertificates } from 'node:tls';
import type { SecretInject } from '../domain/secret-binding.js';
import type { Logger } from '../observability/logger.js';
import type { EgressCa } from './egress-ca.js';
import { matchAllowlist, parseHostPattern, type AllowEntry } from '../policies/host-patterns.js';

/** A secret bound to hosts, as a sandbox's label carries it (names only, never values). */
export interface BoundSecret {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly inject: SecretInject;
}

/** The bound secrets of one sandbox, and the tenant whose secrets they are. */
export interface SandboxSecrets {
  readonly tenantId: string;
  readonly secrets: readonly BoundSecret[];
}

export interface SecretBrokerOptions {
  /** The bound secrets of the sandbox at this source address, if any. */
  readonly secretsFor: (source: string) => Promise<SandboxSecrets | undefined>;
  /** A secret's value (the worker's provider, cached). */
  readonly valueOf: (tenantId: string, name: string) => Promise<string>;
  /** The CA the sandbox trusts; made on first use (loading or generating it costs a moment). */
  readonly ca: () => EgressCa;
  /** PEM certificates trusted for upstream servers beside the system's roots. */
  readonly upstreamCa?: readonly string[] | undefined;
  readonly connectTimeoutMs?: number | undefined;
  readonly logger?: Logger | undefined;
}

const HOP_BY_HOP = ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** The secret bound to host:port, if any (first binding wins). */
export function boundSecretFor(secrets: readonly BoundSecret[], host: string, port: number): BoundSecret | undefined {
  const entries = (s: BoundSecret): AllowEntry[] => s.hosts.flatMap((h) => {
    const e = parseHostPattern(h);
    return e ? [e] : [];
  });
  return secrets.find((s) => matchAllowlist(entries(s), host, port) !== undefined);
}

/** The header a binding adds, with the value in it. */
export function injectedHeader(inject: SecretInject, value: string): { name: string; value: string } {
  if ('basicAuth' in inject) return { name: 'authorization', value: `Basic ${Buffer.from(`${inject.basicAuth.username}:${value}`, 'utf8').toString('base64')}` };
  return { name: inject.header.toLowerCase(), value: inject.format.replace('{value}', value) };
}

/** `headers` without the sandbox's own credentials for the bound host and with the secret's header. */
export function withSecret(headers: IncomingHttpHeaders, inject: SecretInject, value: string): IncomingHttpHeaders {
  const header = injectedHeader(inject, value);
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (key === 'authorization' || key === header.name) continue;
    out[key] = v;
  }
  // A value with a line break would split the header: no provider value may do that.
  if (/[\r\n\0]/.test(header.value)) throw new Error('the secret\'s value contains a line break or NUL and cannot go in a header');
  out[header.name] = header.value;
  return out;
}

interface Intercepted {
  readonly source: string;
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly tenantId: string;
  readonly secret: BoundSecret;
}

export class SecretBroker {
  readonly #options: SecretBrokerOptions;
  /** Serves the requests of intercepted TLS connections (never listens itself). */
  readonly #server: Server;
  readonly #intercepted = new WeakMap<Duplex, Intercepted>();
  readonly #upstreamCa: string[] | undefined;

  constructor(options: SecretBrokerOptions) {
    this.#options = options;
    this.#upstreamCa = options.upstreamCa && options.upstreamCa.length > 0 ? [...rootCertificates, ...options.upstreamCa] : undefined;
    this.#server = createServer((req, res) => void this.#onRequest(req, res));
  }

  /** The secret bound to host:port for this sandbox, and its tenant. */
  async bound(source: string, host: string, port: number): Promise<{ tenantId: string; secret: BoundSecret } | undefined> {
    const mine = await this.#options.secretsFor(source.replace(/^::ffff:/, ''));
    if (!mine || mine.secrets.length === 0) return undefined;
    const secret = boundSecretFor(mine.secrets, host, port);
    return secret ? { tenantId: mine.tenantId, secret } : undefined;
  }

  /**
   * Headers of a plain-HTTP request with the bound secret added (undefined:
   * no secret is bound to this target, the headers go as they are). Throws
   * with a sentence when the value cannot be had.
   */
  async headersFor(source: string, host: string, port: number, headers: IncomingHttpHeaders): Promise<IncomingHttpHeaders | undefined> {
    const bound = await this.bound(source, host, port);
    if (!bound) return undefined;
    return withSecret(headers, bound.secret.inject, await this.#value(bound.tenantId, bound.secret.name));
  }

  async #value(tenantId: string, name: string): Promise<string> {
    try {
      return await this.#options.valueOf(tenantId, name);
    } catch (err) {
      throw new Error(`secret ${name} is not available: ${(err as Error).message}`);
    }
  }

  /**
   * Takes over a CONNECT whose target has a bound secret: answers 200, speaks
   * TLS to the sandbox with a certificate for `host`, and serves its requests
   * (only ever to the judged address, whatever Host they name).
   */
  intercept(client: Duplex, head: Buffer, target: Omit<Intercepted, 'secret' | 'tenantId'>, bound: { tenantId: string; secret: BoundSecret }): void {
    let context;
    try {
      context = this.#options.ca().contextFor(target.host);
    } catch (err) {
      this.#options.logger?.warn('egress CA unavailable', { error: (err as Error).message });
      client.end(`HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\nkortix egress proxy: cannot present a certificate for ${target.host}\n`);
      return;
    }
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) client.unshift(head);
    const tls = new TLSSocket(client as Socket, { isServer: true, secureContext: context });
    tls.on('error', () => client.destroy());
    client.once('close', () => tls.destroy());
    this.#intercepted.set(tls, { ...target, ...bound });
    this.#server.emit('connection', tls);
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t = this.#intercepted.get(req.socket);
    if (!t) {
      res.writeHead(500).end();
      return;
    }
    const fail = (status: number, message: string) => {
      this.#options.logger?.info('egress brokered request failed', { source: t.source, target: `${t.host}:${t.port}`, status, reason: message });
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`kortix egress proxy: ${message}\n`);
    };
    let headers: IncomingHttpHeaders;
    try {
      headers = withSecret(req.headers, t.secret.inject, await this.#value(t.tenantId, t.secret.name));
    } catch (err) {
      fail(502, (err as Error).message);
      return;
    }
    for (const h of HOP_BY_HOP) delete headers[h];
    const hostHeader = t.port === 443 ? t.host : `${isIP(t.host) === 6 ? `[${t.host}]` : t.host}:${t.port}`;
    const upstream = httpsRequest({
      host: t.address,
      port: t.port,
      method: req.method,
      path: req.url,
      headers: { ...headers, host: hostHeader },
      // The name checked in the server's certificate (and sent as SNI) is the sandbox's target, not the address.
      ...(isIP(t.host) ? {} : { servername: t.host }),
      ...(this.#upstreamCa ? { ca: this.#upstreamCa } : {}),
      rejectUnauthorized: true,
      agent: false,
      timeout: this.#options.connectTimeoutMs ?? 10_000,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
    upstream.on('error', (err) => fail(502, `${t.host}:${t.port}: ${err.message}`));
    req.pipe(upstream);
  }
}

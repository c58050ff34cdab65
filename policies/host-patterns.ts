/**
 * Host patterns of a policy's `network.allow` and `network.approve`, and the
 * hosts a `request_network` call names. Pure (no Node builtins): the workflow
 * judges request_network with these, and the egress proxy applies the same.
 *
 * A pattern is `host`, `*.domain` (any subdomain, not the domain itself) or
 * either with `:port`; without a port it covers 80 and 443. `*` alone covers
 * any name (never an address) on 80 and 443. Names are compared lower-case,
 * without a trailing dot.
 */

export interface AllowEntry {
  /** Lower-case host, or `*.suffix`, or `*`. */
  readonly host: string;
  /** Undefined: 80 and 443. */
  readonly port?: number | undefined;
}

export const DEFAULT_PORTS: readonly number[] = [80, 443];
const PATTERN = /^(\*|\*\.[a-z0-9-]+(\.[a-z0-9-]+)*|[a-z0-9-]+(\.[a-z0-9-]+)*)(:(\d{1,5}))?$/;

/** A pattern as written in a policy, or undefined when it is not one. */
export function parseHostPattern(raw: string): AllowEntry | undefined {
  const text = raw.trim().toLowerCase().replace(/\.(?=(:\d+)?$)/, '');
  const m = PATTERN.exec(text);
  const port = m?.[5] === undefined ? undefined : Number(m[5]);
  if (!m || (port !== undefined && (port < 1 || port > 65535))) return undefined;
  return { host: m[1] as string, ...(port === undefined ? {} : { port }) };
}

export const HOST_PATTERN_HINT = 'a host, *.domain or * (optionally with :port)';

/** An address rather than a name (dotted IPv4 or any IPv6), without node:net (workflow code uses this). */
export function looksLikeAddress(host: string): boolean {
  return /^\d+(\.\d+){3}$/.test(host) || host.includes(':');
}

function normaliseHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** The entry that covers host:port, if any. */
export function matchAllowlist(entries: readonly AllowEntry[], host: string, port: number): AllowEntry | undefined {
  const h = normaliseHost(host);
  return entries.find((e) => {
    const portOk = e.port === undefined ? DEFAULT_PORTS.includes(port) : e.port === port;
    if (!portOk) return false;
    if (e.host === '*') return !looksLikeAddress(h);
    if (e.host.startsWith('*.')) return !looksLikeAddress(h) && h.endsWith(e.host.slice(1));
    return e.host === h;
  });
}

/** Whether every port of a request (its port, or 80 and 443 without one) is covered by the entries. */
export function coversRequest(entries: readonly AllowEntry[], host: string, port: number | undefined): boolean {
  const ports = port === undefined ? DEFAULT_PORTS : [port];
  return ports.every((p) => matchAllowlist(entries, host, p) !== undefined);
}

/** The patterns of a policy list, dropping any that do not parse (the schema refuses those at load). */
export function hostPatterns(raw: readonly string[] | undefined): AllowEntry[] {
  return (raw ?? []).flatMap((r) => parseHostPattern(r) ?? []);
}

/** The exact host a request_network call names: a name or a dotted IPv4 address, no wildcard; or why not. */
export function requestedHostProblem(host: string): string | undefined {
  if (host.length === 0 || host.length > 253) return 'argument "host" must be a host name of 1 to 253 characters';
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/i.test(host)) return 'argument "host" must be a host name like api.example.com (no scheme, path or wildcard)';
  return undefined;
}

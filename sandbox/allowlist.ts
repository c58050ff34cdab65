/**
 * The hosts a session's policy lets its sandbox reach (`network.allow`), as
 * the egress proxy applies them. Pure functions: no I/O.
 *
 * An entry is `host`, `*.domain` (any subdomain, not the domain itself) or
 * either with `:port`; without a port it allows 80 and 443. `*` alone allows
 * any host on 80 and 443. Names are compared lower-case, without a trailing dot.
 */
import { isIP } from 'node:net';
import { SandboxRequestError } from './errors.js';

export interface AllowEntry {
  /** Lower-case host, or `*.suffix`, or `*`. */
  readonly host: string;
  /** Undefined: 80 and 443. */
  readonly port?: number | undefined;
}

const DEFAULT_PORTS = new Set([80, 443]);
const ENTRY = /^(\*|\*\.[a-z0-9-]+(\.[a-z0-9-]+)*|[a-z0-9-]+(\.[a-z0-9-]+)*)(:(\d{1,5}))?$/;

/** Parses policy entries; throws a SandboxRequestError naming the first bad one. */
export function parseAllowlist(entries: readonly string[]): AllowEntry[] {
  return entries.map((raw) => {
    const text = raw.trim().toLowerCase().replace(/\.(?=(:\d+)?$)/, '');
    const m = ENTRY.exec(text);
    const port = m?.[5] === undefined ? undefined : Number(m[5]);
    if (!m || (port !== undefined && (port < 1 || port > 65535))) {
      throw new SandboxRequestError(`network.allow entry ${JSON.stringify(raw)} is not a host, *.domain or * (optionally with :port)`);
    }
    return { host: m[1] as string, ...(port === undefined ? {} : { port }) };
  });
}

function normaliseHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** The entry that allows host:port, if any. */
export function matchAllowlist(entries: readonly AllowEntry[], host: string, port: number): AllowEntry | undefined {
  const h = normaliseHost(host);
  return entries.find((e) => {
    const portOk = e.port === undefined ? DEFAULT_PORTS.has(port) : e.port === port;
    if (!portOk) return false;
    if (e.host === '*') return isIP(h) === 0;
    if (e.host.startsWith('*.')) return isIP(h) === 0 && h.endsWith(e.host.slice(1));
    return e.host === h;
  });
}

/**
 * Loopback, private, link-local, shared (CGNAT), multicast, unspecified and
 * reserved addresses: what a name allowed by a wildcard must not resolve to
 * (DNS rebinding into the host or its network).
 */
export function isInternalAddress(address: string): boolean {
  const v = isIP(address);
  if (v === 4) {
    const [a = 0, b = 0] = address.split('.').map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  if (v === 6) {
    const x = address.toLowerCase();
    if (x === '::' || x === '::1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(x);
    if (mapped?.[1]) return isInternalAddress(mapped[1]);
    return /^(fc|fd|fe8|fe9|fea|feb|ff)/.test(x);
  }
  return true;
}

/** Whether a resolved address may be used for a target the entry allowed. */
export function addressAllowed(entry: AllowEntry, address: string): boolean {
  // An exact name or address was chosen by the policy's author; a wildcard was not.
  const exact = !entry.host.startsWith('*');
  return exact || !isInternalAddress(address);
}

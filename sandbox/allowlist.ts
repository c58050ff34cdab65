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
import { isInternalAddress } from './internal-address.js';

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

export { isInternalAddress } from './internal-address.js';

/**
 * Whether a resolved address may be used for a target the entry allowed. A name never leads to an
 * internal address, however exactly the policy names it: DNS, not the policy's author, decides where
 * a name points (an allowed name can be made to resolve to 169.254.169.254). An address entry
 * (`10.1.2.3:5432`) was the author's explicit choice and stands.
 */
export function addressAllowed(entry: AllowEntry, address: string): boolean {
  return isIP(entry.host) !== 0 || !isInternalAddress(address);
}

/**
 * The hosts a session's policy lets its sandbox reach (`network.allow`), as
 * the egress proxy applies them. Pure functions: no I/O. The pattern syntax
 * and matching are in policies/host-patterns.ts (shared with the workflow).
 */
import { isIP } from 'node:net';
import { SandboxRequestError } from './errors.js';
import { HOST_PATTERN_HINT, parseHostPattern, type AllowEntry } from '../policies/host-patterns.js';
import { isInternalAddress } from '../policies/internal-address.js';

export { matchAllowlist, type AllowEntry } from '../policies/host-patterns.js';

/** Parses policy entries; throws a SandboxRequestError naming the first bad one. */
export function parseAllowlist(entries: readonly string[], field = 'network.allow'): AllowEntry[] {
  return entries.map((raw) => {
    const entry = parseHostPattern(raw);
    if (!entry) throw new SandboxRequestError(`${field} entry ${JSON.stringify(raw)} is not ${HOST_PATTERN_HINT}`);
    return entry;
  });
}

export { isInternalAddress } from '../policies/internal-address.js';

/**
 * Whether a resolved address may be used for a target the entry allowed. A name never leads to an
 * internal address, however exactly the policy names it: DNS, not the policy's author, decides where
 * a name points (an allowed name can be made to resolve to 169.254.169.254). An address entry
 * (`10.1.2.3:5432`) was the author's explicit choice and stands.
 */
export function addressAllowed(entry: AllowEntry, address: string): boolean {
  return isIP(entry.host) !== 0 || !isInternalAddress(address);
}

/** Where a sandbox reaches a server of the test process: this machine's first non-loopback IPv4 (through the egress proxy, when a policy names it). */
import { networkInterfaces } from 'node:os';

export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('no non-loopback IPv4 address on this machine');
}

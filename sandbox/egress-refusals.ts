/**
 * The egress proxy's recent refusals, per sandbox address. A browser that
 * follows a redirect to a host the policy does not name sees only
 * "ERR_TUNNEL_CONNECTION_FAILED" (Chromium shows no body of a refused
 * CONNECT); the tool asks here what the proxy refused for its sandbox during
 * the action and says it to the model with the proxy's reason.
 */
import type { EgressRefusal } from './egress-proxy.js';

/** Per address, the last this many; older ones are dropped (a page can make thousands of requests). */
const KEEP_PER_ADDRESS = 32;
/** Addresses tracked at once (a sandbox's address is forgotten at release). */
const MAX_ADDRESSES = 4096;

export class EgressRefusals {
  readonly #byAddress = new Map<string, EgressRefusal[]>();

  record(refusal: EgressRefusal): void {
    let list = this.#byAddress.get(refusal.source);
    if (!list) {
      if (this.#byAddress.size >= MAX_ADDRESSES) {
        const oldest = this.#byAddress.keys().next().value;
        if (oldest !== undefined) this.#byAddress.delete(oldest);
      }
      list = [];
      this.#byAddress.set(refusal.source, list);
    }
    list.push(refusal);
    if (list.length > KEEP_PER_ADDRESS) list.splice(0, list.length - KEEP_PER_ADDRESS);
  }

  /** Refusals for the sandbox at `address` at or after `sinceMs` (Date.now() values), oldest first. */
  since(address: string, sinceMs: number): EgressRefusal[] {
    return (this.#byAddress.get(address) ?? []).filter((r) => r.at >= sinceMs);
  }

  /** Forgets an address (its sandbox left the network: the next one there must not inherit its refusals). */
  forget(address: string): void {
    this.#byAddress.delete(address);
  }
}

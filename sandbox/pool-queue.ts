/**
 * The queue in which claims wait for a container, first come first served:
 * whatever frees (a release, a refill, a warm container ready) goes to the
 * oldest waiting claim that can use it, handed over at once (the caller's
 * `take` moves it to in use), so no later claim can snatch it between the
 * wake-up and the take. A claim whose wait times out keeps its place for a
 * while: its retry (Temporal's, usually on this host) rejoins the queue there.
 * A claim whose caller gives up (its AbortSignal) leaves the line at once.
 */

/** What a claim can use: an idle container (warm) and/or a free slot to start one in (cold). */
export interface Want {
  readonly warm: boolean;
  readonly cold: boolean;
}

/**
 * What a claim was handed: `T` for an idle container, 'cold' for a slot counted in use already; `evict`: the slot
 * is that idle container's, which the claim removes before it starts its own (a full pool of idle containers the
 * claim cannot use, pool-state.ts).
 */
export type Grant<T> = { readonly kind: 'warm'; readonly idle: T } | { readonly kind: 'cold'; readonly evict?: T };

/**
 * A claim's turn: served at once, waiting (resolves undefined at its deadline or the pool's stop, rejects with
 * the signal's reason when it aborts), or neither.
 */
export type Turn<T> = { readonly grant: Grant<T> } | { readonly wait: Promise<Grant<T> | undefined> } | undefined;

interface Waiter<T> {
  readonly ticket: number;
  readonly want: Want;
  readonly done: (grant: Grant<T> | undefined) => void;
}

/**
 * How long a timed-out claim's place is kept for its retry: more than the longest retry interval of
 * claimSandbox (30 s, workflows/session-activities.ts), so a retry that lands here again is not sent back.
 */
export const KEPT_PLACE_MS = 60_000;

/** The waiting claims of one pool, oldest first. */
export class ClaimQueue<T> {
  /** Takes what `want` can use from the pool now (moving it to in use), else undefined. */
  readonly #take: (want: Want) => Grant<T> | undefined;
  /** False once the pool stops: nobody waits any more. */
  readonly #open: () => boolean;
  readonly #keepMs: number;
  /** Sorted by ticket. */
  #waiters: Waiter<T>[] = [];
  #next = 0;
  /** Places of claims whose wait timed out, by session, until their retry comes back or KEPT_PLACE_MS passes. */
  readonly #kept = new Map<string, { readonly ticket: number; readonly timer: NodeJS.Timeout }>();

  constructor(take: (want: Want) => Grant<T> | undefined, open: () => boolean, keepMs = KEPT_PLACE_MS) {
    this.#take = take;
    this.#open = open;
    this.#keepMs = keepMs;
  }

  /** Claims waiting now. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** The session's place in line: the one it kept from a timed-out wait, else the end of the line. */
  ticket(sessionId: string): number {
    const kept = this.#kept.get(sessionId);
    if (!kept) return this.#next++;
    clearTimeout(kept.timer);
    this.#kept.delete(sessionId);
    return kept.ticket;
  }

  /** Keeps a place for the session's next claim (its wait timed out; Temporal will retry it). */
  keep(sessionId: string, ticket: number): void {
    const old = this.#kept.get(sessionId);
    if (old) clearTimeout(old.timer);
    const timer = setTimeout(() => {
      if (this.#kept.get(sessionId)?.ticket === ticket) this.#kept.delete(sessionId);
    }, this.#keepMs);
    timer.unref();
    this.#kept.set(sessionId, { ticket, timer });
  }

  /**
   * Joins the line at `ticket`; serves whoever can be served, in order, so this claim gets something
   * now only if no older waiting claim can use it. Otherwise it waits up to `ms` (none when `ms` is
   * spent or the pool is stopped), or until `signal` aborts (throws its reason if it has already).
   */
  turn(ticket: number, want: Want, ms: number, signal?: AbortSignal): Turn<T> {
    signal?.throwIfAborted();
    let granted: Grant<T> | undefined;
    const me: Waiter<T> = { ticket, want, done: (g) => (granted = g) };
    this.#insert(me);
    this.#serve();
    if (granted) return { grant: granted };
    this.#remove(me);
    if (ms <= 0 || !this.#open()) return undefined;
    return {
      wait: new Promise((resolve, reject) => {
        const settle = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', abort);
        };
        const waiter: Waiter<T> = {
          ticket,
          want,
          done: (g) => {
            settle();
            resolve(g);
          },
        };
        // Leaving (timed out, aborted) frees nothing: those behind were served already if anything fit them.
        const timer = setTimeout(() => {
          settle();
          this.#remove(waiter);
          resolve(undefined);
        }, ms);
        // Once served (done), the grant is the caller's to give back: the abort no longer reaches here.
        const abort = () => {
          settle();
          this.#remove(waiter);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', abort, { once: true });
        this.#insert(waiter);
      }),
    };
  }

  /** Something may have freed (or the pool stopped): hands it out to the waiting claims, oldest first. */
  fire(): void {
    if (this.#open()) {
      this.#serve();
      return;
    }
    // A stopped pool fails its waiting claims (PoolExhaustedError), as a timeout would.
    for (const w of this.#waiters.splice(0)) w.done(undefined);
  }

  /** Gives each waiting claim, oldest first, what it can use of what is free. */
  #serve(): void {
    for (const w of [...this.#waiters]) {
      const grant = this.#take(w.want);
      if (!grant) continue;
      this.#remove(w);
      w.done(grant);
    }
  }

  #insert(w: Waiter<T>): void {
    const at = this.#waiters.findIndex((x) => x.ticket > w.ticket);
    if (at < 0) this.#waiters.push(w);
    else this.#waiters.splice(at, 0, w);
  }

  #remove(w: Waiter<T>): void {
    this.#waiters = this.#waiters.filter((x) => x !== w);
  }
}

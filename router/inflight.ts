/**
 * Identical requests in flight at the same time share one upstream call. The
 * shared call is aborted only when every caller waiting on it has gone.
 */

interface Flight<T> {
  promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
}

/** Calls in flight by key: the first caller starts one, later callers with the same key join it. */
export class InFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /** Calls in flight now. */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * Joins the call under `key`, or starts it with `start`. `leader` is true
   * for the caller whose `start` runs.
   */
  run(key: string, signal: AbortSignal | undefined, start: (signal: AbortSignal) => Promise<T>): { promise: Promise<T>; leader: boolean } {
    let flight = this.#flights.get(key);
    const leader = flight === undefined;
    if (!flight) {
      const controller = new AbortController();
      const created: Flight<T> = { controller, waiters: 0, promise: Promise.resolve() as Promise<T> };
      created.promise = start(controller.signal).finally(() => {
        if (this.#flights.get(key) === created) this.#flights.delete(key);
      });
      this.#flights.set(key, created);
      flight = created;
    }
    const joined = flight;
    joined.waiters++;
    if (!signal) return { promise: joined.promise, leader };
    const promise = new Promise<T>((resolve, reject) => {
      const leave = () => {
        joined.waiters--;
        if (joined.waiters === 0) joined.controller.abort(signal.reason);
        reject(signal.reason);
      };
      if (signal.aborted) return leave();
      signal.addEventListener('abort', leave, { once: true });
      joined.promise.then(
        (v) => {
          signal.removeEventListener('abort', leave);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', leave);
          reject(e);
        },
      );
    });
    return { promise, leader };
  }
}

/**
 * The warm pool's in-memory view of its containers (idle, being created, in
 * use), shared by the claim path, the upkeep and the reconciliation, and the
 * Signal on which claims wait for it to change.
 */
import type { SandboxPoolOptions } from './pool-options.js';

/** An idle container of the pool. */
export interface Idle {
  readonly id: string;
  readonly name: string;
  readonly createdMs: number;
  probing: boolean;
}

/** Resolves every waiter when something changes (an idle container, a free slot). */
export class Signal {
  #waiters: (() => void)[] = [];

  /** Resolves at the next fire(), or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.push(done);
    });
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  fire(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** What the pool knows about its containers between two looks at the engine. */
export class PoolState {
  readonly #options: SandboxPoolOptions;
  /** The wall clock against which container ages are judged. */
  readonly now: () => number;
  /** The current spec hash: idle containers of another one are recycled. */
  specLabel: readonly [string, string];
  /** Insertion order: the oldest idle container is claimed first. */
  readonly idle = new Map<string, Idle>();
  #creating = 0;
  /** Idle names this process is creating or renaming right now: a resync leaves them alone. */
  readonly busyNames = new Set<string>();
  #inUse = 0;
  /** Fired when an idle container or a free slot may be there; claims wait on it. */
  readonly changed = new Signal();
  /** Between start() and stop(): refills, sweeps and event following run. */
  running = false;

  constructor(options: SandboxPoolOptions) {
    this.#options = options;
    this.now = options.now ?? Date.now;
    this.specLabel = options.specLabel;
  }

  /** Containers being created now (they count against maxTotal before they are idle). */
  get creating(): number {
    return this.#creating;
  }

  /** Claimed containers (sessions hold them). */
  get inUse(): number {
    return this.#inUse;
  }

  /** Idle, being created and in use: what counts against maxTotal. */
  total(): number {
    return this.idle.size + this.#creating + this.#inUse;
  }

  creationStarted(): void {
    this.#creating += 1;
  }

  creationEnded(): void {
    this.#creating = Math.max(0, this.#creating - 1);
  }

  claimed(): void {
    this.#inUse += 1;
  }

  /**
   * A claimed container is given back, destroyed or found gone. Never below zero: a reconciliation may
   * already have counted it out (it reads the engine, which can be ahead of the calls that tell us).
   */
  unclaimed(): void {
    this.#inUse = Math.max(0, this.#inUse - 1);
  }

  /** What a look at the engine counted, which wins over the running count. */
  resyncInUse(count: number): void {
    this.#inUse = count;
  }

  /** Sets the idle and in-use gauges. */
  publish(): void {
    this.#options.metrics?.sandboxPoolIdle.set(this.idle.size);
    this.#options.metrics?.sandboxPoolInUse.set(this.inUse);
  }
}

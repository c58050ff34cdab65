/**
 * The warm pool's in-memory view of its containers (idle, being created, in
 * use), shared by the claim path, the upkeep and the reconciliation, and the
 * queue in which claims wait, fed whenever it changes.
 */
import type { SandboxPoolOptions } from './pool-options.js';
import { ClaimQueue, type Grant, type Want } from './pool-queue.js';

/** An idle container of the pool. */
export interface Idle {
  readonly id: string;
  readonly name: string;
  readonly createdMs: number;
  /** A health probe is running on it: a claim prefers another one. */
  readonly probing: boolean;
}

type IdleEntry = { -readonly [K in keyof Idle]: Idle[K] };

/** Resolves every waiter at the next fire() (the pool's OOM watch, the upkeep's stop); claims wait in ClaimQueue. */
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
  readonly #idle = new Map<string, IdleEntry>();
  #creating = 0;
  /** Idle names this process is creating or renaming right now: a resync leaves them alone. */
  readonly busyNames = new Set<string>();
  #inUse = 0;
  /** Fired when an idle container or a free slot may be there: it goes to the oldest waiting claim that can use it. */
  readonly changed = new ClaimQueue<Idle>(
    (want) => this.#take(want),
    () => this.running,
  );
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

  /** Idle containers now. */
  get idleCount(): number {
    return this.#idle.size;
  }

  /** Idle, being created and in use: what counts against maxTotal. */
  total(): number {
    return this.#idle.size + this.#creating + this.#inUse;
  }

  isIdle(id: string): boolean {
    return this.#idle.has(id);
  }

  /** The idle containers, oldest first (a copy: the pool may change while the caller awaits). */
  idleContainers(): Idle[] {
    return [...this.#idle.values()];
  }

  /** A container created or adopted is idle from now on. */
  addIdle(c: { readonly id: string; readonly name: string; readonly createdMs: number }): void {
    this.#idle.set(c.id, { id: c.id, name: c.name, createdMs: c.createdMs, probing: false });
  }

  /** An idle container is recycled or gone; whether it was idle. */
  removeIdle(id: string): boolean {
    return this.#idle.delete(id);
  }

  /** Marks an idle container as being probed (or done), so claims prefer another one meanwhile. */
  setProbing(id: string, probing: boolean): void {
    const c = this.#idle.get(id);
    if (c) c.probing = probing;
  }

  /**
   * Moves the oldest idle container not being probed (else the oldest) to in use,
   * so it counts against maxTotal from now on; undefined when none is idle.
   */
  #takeIdle(): Idle | undefined {
    const candidates = [...this.#idle.values()];
    const pick = candidates.find((c) => !c.probing) ?? candidates[0];
    if (!pick) return undefined;
    this.#idle.delete(pick.id);
    this.#inUse += 1;
    return pick;
  }

  /**
   * Undoes #takeIdle for a claim that gave up before it touched the container: idle again, first in line
   * (it was the oldest), so the next claim takes it. The caller counts it out of use (unclaimed).
   */
  giveBack(c: Idle): void {
    const rest = [...this.#idle.entries()].filter(([id]) => id !== c.id);
    this.#idle.clear();
    this.#idle.set(c.id, { ...c });
    for (const [id, entry] of rest) this.#idle.set(id, entry);
  }

  /**
   * An idle container (moved to in use) if `want` takes one, else a free slot (counted in use) if it starts one.
   * A claim that can only start its own container (egress with secrets, or idle ones that cannot join the egress
   * network) finding the pool full gets the slot of the oldest idle container, to be removed: else idle
   * containers nobody in line can use would keep it waiting until a session ends, however long that is.
   */
  #take(want: Want): Grant<Idle> | undefined {
    const idle = want.warm ? this.#takeIdle() : undefined;
    if (idle) return { kind: 'warm', idle };
    if (!want.cold) return undefined;
    if (this.total() < this.#options.settings.maxTotal) {
      this.claimed();
      return { kind: 'cold' };
    }
    const evict = want.warm ? undefined : this.#takeIdle();
    return evict ? { kind: 'cold', evict } : undefined;
  }

  /** Forgets every idle container and returns them (to be removed by the caller). */
  drainIdle(): Idle[] {
    const idle = [...this.#idle.values()];
    this.#idle.clear();
    return idle;
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
    this.#options.metrics?.sandboxPoolIdle.set(this.#idle.size);
    this.#options.metrics?.sandboxPoolInUse.set(this.inUse);
  }
}

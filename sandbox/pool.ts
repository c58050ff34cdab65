/**
 * The warm pool of one sandbox host: generic, started containers kept between
 * `minIdle` and `maxTotal`, each claimed by one session and destroyed at
 * release (never reused), refilled in the background, health-checked while
 * idle and recycled after `maxAgeMs`.
 *
 * The pool's state lives in Docker, not in memory: containers carry labels
 * set at create (pool, host, instance, spec) and a name that says what they
 * are — `…-idle-<random>` while idle, `…-s-<session>` once claimed. A claim
 * first writes the container's claim record (engine.mark: one winner, even
 * across processes), then renames it; the name is unique on the engine, so a
 * retried claim runs into it and gets the same container. At start, on every
 * health sweep, and whenever the engine's event stream comes back (a
 * restarted dockerd), the pool lists its containers and rebuilds from them:
 * healthy, unclaimed idle ones of the current spec are adopted, the rest are
 * removed; claimed ones stay for their sessions unless `isOrphan` says the
 * session no longer holds them.
 *
 * This file holds the pool's lifecycle (start, stop, sweeps, engine events,
 * OOM counts); the claim path is in pool-claim.ts, the line in which claims
 * wait (first come, first served) in pool-queue.ts, the refill, health checks
 * and recycling in pool-upkeep.ts, the rebuild from Docker in pool-reconcile.ts,
 * the shared in-memory view in pool-state.ts.
 */
import { SandboxRequestError } from './errors.js';
import type { EngineEvent } from './engine.js';
import { PoolClaims, type ClaimRequest, type PoolClaim } from './pool-claim.js';
import type { SandboxPoolOptions } from './pool-options.js';
import { PoolReconciler } from './pool-reconcile.js';
import { PoolState, Signal } from './pool-state.js';
import { PoolUpkeep } from './pool-upkeep.js';

export type { PoolMetrics, PoolSettings, SandboxPoolOptions } from './pool-options.js';
export { PoolExhaustedError, type ClaimRequest, type PoolClaim } from './pool-claim.js';

/** Claimed containers are asked about (isOrphan) every this many health sweeps. */
const ORPHAN_SWEEP_EVERY = 10;

/** The warm pool of one sandbox host (see the file comment). */
export class SandboxPool {
  readonly #options: SandboxPoolOptions;
  readonly #state: PoolState;
  readonly #upkeep: PoolUpkeep;
  readonly #claims: PoolClaims;
  readonly #reconciler: PoolReconciler;
  readonly #oomKills = new Map<string, number>();
  readonly #oomSignal = new Signal();
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #sweeps = 0;

  constructor(options: SandboxPoolOptions) {
    if (options.settings.minIdle > options.settings.maxTotal) {
      throw new SandboxRequestError(`minIdle (${options.settings.minIdle}) is more than maxTotal (${options.settings.maxTotal})`);
    }
    this.#options = options;
    this.#state = new PoolState(options);
    this.#upkeep = new PoolUpkeep(options, this.#state);
    this.#claims = new PoolClaims(options, this.#state, () => this.#upkeep.kick());
    this.#reconciler = new PoolReconciler(options, this.#state, this.#upkeep, (sessionId) => this.#claims.has(sessionId));
  }

  /** The spec hash once the image id is known (at start): idle containers of another one are recycled. */
  setSpecLabel(label: readonly [string, string]): void {
    this.#state.specLabel = label;
  }

  /** Counts for metrics and tests. */
  stats(): { idle: number; creating: number; inUse: number; waiting: number } {
    return { idle: this.#state.idleCount, creating: this.#state.creating, inUse: this.#state.inUse, waiting: this.#state.changed.waiting };
  }

  /** Rebuilds the state from the engine, follows its events, starts refilling and the health sweeps. */
  async start(): Promise<void> {
    if (this.#state.running) return;
    this.#state.running = true;
    await this.resync();
    await this.#removeUnusedVolumes();
    this.#watch();
    this.#timer = setInterval(() => void this.#sweep(), this.#options.settings.healthIntervalMs);
    this.#timer.unref();
    this.#upkeep.kick();
  }

  /** Stops refilling, sweeps and event following; containers stay (a restarted worker adopts them). */
  async stop(): Promise<void> {
    this.#state.running = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#state.changed.fire();
    await this.#upkeep.stop();
  }

  /** Removes the idle containers (a host that shuts down for good leaves no warm ones behind). */
  async drainIdle(): Promise<number> {
    const idle = this.#state.drainIdle();
    this.#state.publish();
    for (const c of idle) await this.#options.engine.remove(c.id).catch(() => false);
    return idle.length;
  }

  /**
   * Lists this pool's containers and rebuilds the in-memory view from them.
   * Idle ones are adopted when running, of the current spec, younger than
   * maxAge and answering; everything else that is not a session's is removed.
   */
  resync(): Promise<void> {
    return this.#reconciler.resync();
  }

  /**
   * The session's container: the one it holds if it runs, else an idle one
   * renamed for it, else a cold one (or a wait, by settings). Idempotent.
   * When `signal` aborts, the claim rejects with its reason (see PoolClaims.claim).
   */
  claim(request: ClaimRequest, signal?: AbortSignal): Promise<PoolClaim> {
    return this.#claims.claim(request, signal);
  }

  /** Destroys the session's container and its workspace; idempotent. */
  release(sessionId: string): Promise<{ removed: number }> {
    return this.#claims.release(sessionId);
  }

  /** OOM kills the engine reported for a container so far. */
  oomKills(containerId: string): number {
    return this.#oomKills.get(containerId) ?? 0;
  }

  /** Waits up to `ms` for the container's OOM count to exceed `seen` (the event may trail the exit). */
  async waitForOomKill(containerId: string, seen: number, ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (this.oomKills(containerId) <= seen) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await this.#oomSignal.wait(left);
    }
    return true;
  }

  /**
   * Rebuilds from the engine, recycles idle containers past maxAge, probes the
   * others; every few sweeps asks about the claimed ones.
   */
  async #sweep(): Promise<void> {
    try {
      await this.resync();
      await this.#upkeep.checkIdle();
      if (++this.#sweeps % ORPHAN_SWEEP_EVERY === 0) await this.reapOrphans();
      this.#upkeep.kick();
    } catch (err) {
      this.#options.logger?.warn('sandbox pool sweep failed', { err });
    }
  }

  /** Workspace volumes of this pool that no container uses: left by a crash of the worker or the engine. */
  async #removeUnusedVolumes(): Promise<void> {
    const removed = await this.#options.engine.removeUnusedVolumes(this.#options.selector, (name) => this.#options.names.owns(name)).catch(() => 0);
    if (removed > 0) this.#options.logger?.info('removed unused workspace volumes', { removed });
  }

  /** Removes claimed containers whose session no longer holds them (isOrphan); returns how many. */
  reapOrphans(): Promise<number> {
    return this.#reconciler.reapOrphans();
  }

  #watch(): void {
    if (!this.#state.running) return;
    this.#unwatch = this.#options.engine.watch(
      this.#options.selector,
      (e) => this.#onEvent(e),
      (err) => {
        if (!this.#state.running) return;
        this.#options.logger?.warn('lost the engine event stream; following again', { err: err?.message });
        // The engine may have restarted (every container stopped): rebuild from it once it answers.
        const again = () => {
          if (!this.#state.running) return;
          this.resync()
            .then(() => this.#removeUnusedVolumes())
            .then(() => this.#watch())
            .then(() => this.#upkeep.kick())
            .catch(() => setTimeout(again, 1_000).unref());
        };
        setTimeout(again, 250).unref();
      },
    );
  }

  #onEvent(e: EngineEvent): void {
    if (e.action === 'oom') {
      this.#oomKills.set(e.containerId, this.oomKills(e.containerId) + 1);
      this.#options.metrics?.sandboxOomKills.inc();
      this.#oomSignal.fire();
      return;
    }
    if (e.action === 'destroy') this.#oomKills.delete(e.containerId);
    if (this.#state.isIdle(e.containerId)) void this.#upkeep.discard(e.containerId, e.action === 'die' ? 'stopped' : 'removed');
  }
}

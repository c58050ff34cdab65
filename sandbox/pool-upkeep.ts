/**
 * The warm pool's upkeep of its idle containers: the background refill to
 * minIdle (with back-off on failures), their health checks, and recycling
 * (removal) of those that stopped, failed a check or passed maxAge.
 */
import { randomBytes } from 'node:crypto';
import type { SandboxPoolOptions } from './pool-options.js';
import { Signal, type PoolState } from './pool-state.js';

const RETRY_BACKOFF_MS = [250, 1_000, 5_000, 15_000];

/** Refills, health-checks and recycles the idle containers of one pool. */
export class PoolUpkeep {
  readonly #options: SandboxPoolOptions;
  readonly #state: PoolState;
  /** Fired by stop(): ends the refill's back-off at once. */
  readonly #stopping = new Signal();
  #refilling: Promise<void> | undefined;
  #failures = 0;

  constructor(options: SandboxPoolOptions, state: PoolState) {
    this.#options = options;
    this.#state = state;
  }

  /** Starts the refill unless it runs. */
  kick(): void {
    if (!this.#state.running || this.#refilling) return;
    this.#refilling = this.#refill().finally(() => {
      this.#refilling = undefined;
    });
  }

  /** Ends the refill's back-off at once and waits for the refill to end (call once `running` is false). */
  async stop(): Promise<void> {
    this.#stopping.fire();
    await this.#refilling;
  }

  async #refill(): Promise<void> {
    const { minIdle, maxTotal } = this.#options.settings;
    // Waiting claims count too: in `wait` mode they are served by the refill.
    while (this.#state.running && this.#state.idleCount + this.#state.creating < minIdle + this.#state.changed.waiting && this.#state.total() < maxTotal) {
      try {
        await this.#createIdle();
        this.#failures = 0;
      } catch (err) {
        const backoff = RETRY_BACKOFF_MS[Math.min(this.#failures, RETRY_BACKOFF_MS.length - 1)] ?? 1_000;
        this.#failures++;
        this.#options.logger?.warn('could not start a warm sandbox', { err, retryInMs: backoff });
        await this.#stopping.wait(backoff);
      }
    }
  }

  async #createIdle(): Promise<void> {
    const name = this.#options.names.idle(randomBytes(6).toString('hex'));
    this.#state.creationStarted();
    this.#state.busyNames.add(name);
    const t0 = performance.now();
    let id: string | undefined;
    try {
      id = await this.#options.engine.create(this.#options.spec(name, { labels: {} }));
      this.#options.metrics?.containerStart.observe((performance.now() - t0) / 1000);
      if (!(await this.#options.engine.probe(id))) throw new Error(`new sandbox ${id.slice(0, 12)} does not answer`);
      if (!this.#state.running) {
        await this.#options.engine.remove(id);
        return;
      }
      this.#state.addIdle({ id, name, createdMs: this.#state.now() });
    } catch (err) {
      if (id) await this.#options.engine.remove(id).catch(() => false);
      throw err;
    } finally {
      this.#state.creationEnded();
      this.#state.busyNames.delete(name);
      this.#state.publish();
      this.#state.changed.fire();
    }
  }

  /** Removes an idle container (`why` is logged) and refills. */
  async discard(id: string, why: string): Promise<void> {
    if (this.#state.removeIdle(id)) this.#state.publish();
    await this.#options.engine.remove(id).catch(() => false);
    this.#options.logger?.info('recycled an idle sandbox', { containerId: id.slice(0, 12), why });
    this.#state.changed.fire();
    this.kick();
  }

  /** Recycles idle containers past maxAge and probes the others, recycling those that do not answer. */
  async checkIdle(): Promise<void> {
    for (const c of this.#state.idleContainers()) {
      if (!this.#state.isIdle(c.id)) continue;
      if (this.#state.now() - c.createdMs >= this.#options.settings.maxAgeMs) {
        await this.discard(c.id, 'max age');
        continue;
      }
      this.#state.setProbing(c.id, true);
      const ok = await this.#options.engine.probe(c.id);
      this.#state.setProbing(c.id, false);
      if (!ok && this.#state.isIdle(c.id)) await this.discard(c.id, 'health check failed');
    }
  }
}

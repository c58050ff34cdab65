/**
 * The warm pool rebuilt from Docker's state: a resync lists the pool's
 * containers, adopts the usable idle ones and removes leftovers; orphan
 * reaping removes claimed containers whose session no longer holds them.
 */
import type { SandboxPoolOptions } from './pool-options.js';
import type { PoolState } from './pool-state.js';
import type { PoolUpkeep } from './pool-upkeep.js';

/** Rebuilds one pool's state from the engine and reaps its orphaned containers. */
export class PoolReconciler {
  readonly #options: SandboxPoolOptions;
  readonly #state: PoolState;
  readonly #upkeep: Pick<PoolUpkeep, 'discard' | 'kick'>;
  /** Whether a claim of the session runs in this process now. */
  readonly #claiming: (sessionId: string) => boolean;
  #resyncing: Promise<void> | undefined;

  constructor(options: SandboxPoolOptions, state: PoolState, upkeep: Pick<PoolUpkeep, 'discard' | 'kick'>, claiming: (sessionId: string) => boolean) {
    this.#options = options;
    this.#state = state;
    this.#upkeep = upkeep;
    this.#claiming = claiming;
  }

  /**
   * Lists this pool's containers and rebuilds the in-memory view from them.
   * Idle ones are adopted when running, of the current spec, younger than
   * maxAge and answering; everything else that is not a session's is removed.
   */
  resync(): Promise<void> {
    this.#resyncing ??= this.#resync().finally(() => {
      this.#resyncing = undefined;
    });
    return this.#resyncing;
  }

  async #resync(): Promise<void> {
    const found = await this.#options.engine.list(this.#options.selector);
    const [specKey, specValue] = this.#state.specLabel;
    let inUse = 0;
    const seen = new Set(found.map((c) => c.id));
    for (const c of found) {
      const parsed = this.#options.names.parse(c.name);
      if (parsed.kind === 'session') {
        inUse++;
        continue;
      }
      if (parsed.kind === 'idle') {
        if (this.#state.isIdle(c.id)) {
          if (!c.running) await this.#upkeep.discard(c.id, 'stopped');
          continue;
        }
        // Being created by this process: not ours to judge yet.
        if (this.#state.busyNames.has(c.name)) continue;
        const usable = c.running && c.labels[specKey] === specValue && this.#state.now() - c.createdMs < this.#options.settings.maxAgeMs;
        if (usable && (await this.#options.engine.probe(c.id))) {
          this.#state.addIdle(c);
          this.#options.logger?.info('adopted an idle sandbox', { containerId: c.id.slice(0, 12), instance: c.labels['dev.kortix.instance'] });
          continue;
        }
      }
      await this.#options.engine.remove(c.id).catch(() => false);
      this.#options.logger?.info('removed a leftover sandbox', { containerId: c.id.slice(0, 12), name: c.name, running: c.running });
    }
    // Gone from the engine (idle containers added while listing were not listed: they stay).
    for (const c of this.#state.idleContainers()) if (!seen.has(c.id) && !(await this.#options.engine.find(c.name))) this.#state.removeIdle(c.id);
    this.#state.resyncInUse(inUse);
    this.#state.publish();
    this.#state.changed.fire();
  }

  /** Removes claimed containers whose session no longer holds them (isOrphan); returns how many. */
  async reapOrphans(): Promise<number> {
    const isOrphan = this.#options.isOrphan;
    if (!isOrphan) return 0;
    let removed = 0;
    for (const c of await this.#options.engine.list(this.#options.selector)) {
      const parsed = this.#options.names.parse(c.name);
      if (parsed.kind !== 'session' || this.#claiming(parsed.sessionId)) continue;
      const orphan = await isOrphan(parsed.sessionId, c.id).catch(() => false);
      if (orphan && (await this.#options.engine.remove(c.id))) {
        removed++;
        this.#state.unclaimed();
        this.#options.logger?.info('removed an orphaned sandbox', { containerId: c.id.slice(0, 12), sessionId: parsed.sessionId });
      }
    }
    if (removed > 0) {
      this.#state.publish();
      this.#state.changed.fire();
      this.#upkeep.kick();
    }
    return removed;
  }
}

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
  readonly #o: SandboxPoolOptions;
  readonly #s: PoolState;
  readonly #upkeep: Pick<PoolUpkeep, 'discard' | 'kick'>;
  /** Whether a claim of the session runs in this process now. */
  readonly #claiming: (sessionId: string) => boolean;
  #resyncing: Promise<void> | undefined;

  constructor(options: SandboxPoolOptions, state: PoolState, upkeep: Pick<PoolUpkeep, 'discard' | 'kick'>, claiming: (sessionId: string) => boolean) {
    this.#o = options;
    this.#s = state;
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
    const found = await this.#o.engine.list(this.#o.selector);
    const [specKey, specValue] = this.#s.specLabel;
    let inUse = 0;
    const seen = new Set(found.map((c) => c.id));
    for (const c of found) {
      const parsed = this.#o.names.parse(c.name);
      if (parsed.kind === 'session') {
        inUse++;
        continue;
      }
      if (parsed.kind === 'idle') {
        if (this.#s.idle.has(c.id)) {
          if (!c.running) await this.#upkeep.discard(c.id, 'stopped');
          continue;
        }
        // Being created by this process: not ours to judge yet.
        if (this.#s.busyNames.has(c.name)) continue;
        const usable = c.running && c.labels[specKey] === specValue && this.#s.now() - c.createdMs < this.#o.settings.maxAgeMs;
        if (usable && (await this.#o.engine.probe(c.id))) {
          this.#s.idle.set(c.id, { id: c.id, name: c.name, createdMs: c.createdMs, probing: false });
          this.#o.logger?.info('adopted an idle sandbox', { containerId: c.id.slice(0, 12), instance: c.labels['dev.kortix.instance'] });
          continue;
        }
      }
      await this.#o.engine.remove(c.id).catch(() => false);
      this.#o.logger?.info('removed a leftover sandbox', { containerId: c.id.slice(0, 12), name: c.name, running: c.running });
    }
    // Gone from the engine (idle containers added while listing were not listed: they stay).
    for (const id of [...this.#s.idle.keys()]) if (!seen.has(id) && !(await this.#o.engine.find(this.#s.idle.get(id)?.name ?? ''))) this.#s.idle.delete(id);
    this.#s.inUse = inUse;
    this.#s.publish();
    this.#s.changed.fire();
  }

  /** Removes claimed containers whose session no longer holds them (isOrphan); returns how many. */
  async reapOrphans(): Promise<number> {
    const isOrphan = this.#o.isOrphan;
    if (!isOrphan) return 0;
    let removed = 0;
    for (const c of await this.#o.engine.list(this.#o.selector)) {
      const parsed = this.#o.names.parse(c.name);
      if (parsed.kind !== 'session' || this.#claiming(parsed.sessionId)) continue;
      const orphan = await isOrphan(parsed.sessionId, c.id).catch(() => false);
      if (orphan && (await this.#o.engine.remove(c.id))) {
        removed++;
        this.#s.inUse = Math.max(0, this.#s.inUse - 1);
        this.#o.logger?.info('removed an orphaned sandbox', { containerId: c.id.slice(0, 12), sessionId: parsed.sessionId });
      }
    }
    if (removed > 0) {
      this.#s.publish();
      this.#s.changed.fire();
      this.#upkeep.kick();
    }
    return removed;
  }
}

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
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { EgressAttachment, SandboxNames, SandboxSpecInput } from './container-spec.js';
import { SandboxRequestError } from './errors.js';
import { NameConflictError, type EngineEvent, type SandboxEngine } from './engine.js';

/** The pool's knobs (config: SANDBOX_POOL_*). */
export interface PoolSettings {
  readonly minIdle: number;
  readonly maxTotal: number;
  readonly maxAgeMs: number;
  /** With no idle container: start one for the claim (`cold`) or wait for the refill (`wait`). */
  readonly whenEmpty: 'cold' | 'wait';
  /** How long a claim waits for a container before it fails (and Temporal retries it, maybe elsewhere). */
  readonly waitTimeoutMs: number;
  readonly healthIntervalMs: number;
}

export type PoolMetrics = Pick<Metrics, 'containerStart' | 'sandboxPoolIdle' | 'sandboxPoolInUse' | 'sandboxClaim' | 'sandboxOomKills'>;

export interface SandboxPoolOptions {
  readonly engine: SandboxEngine;
  readonly names: SandboxNames;
  /** Labels that select this pool's containers (managed, pool, host). */
  readonly selector: Readonly<Record<string, string>>;
  /** The current spec hash (LABELS.spec): idle containers of another spec are recycled (see setSpecLabel). */
  readonly specLabel: readonly [string, string];
  /** The full spec of a new container; the pool chooses the name and the extra labels. */
  readonly spec: (name: string, extra: { labels: Record<string, string>; egress?: EgressAttachment | undefined }) => SandboxSpecInput;
  readonly settings: PoolSettings;
  /** Asked about claimed containers at start and on each sweep: true when the session no longer holds this one. */
  readonly isOrphan?: ((sessionId: string, containerId: string) => Promise<boolean>) | undefined;
  readonly metrics?: PoolMetrics | undefined;
  readonly logger?: Logger | undefined;
  /** The wall clock, in ms, against which container ages are judged (tests move it). */
  readonly now?: () => number;
}

export interface ClaimRequest {
  readonly sessionId: string;
  readonly tenantId: string;
  /** Set for sessions whose policy names hosts: such a container is always started cold, on the egress network. */
  readonly egress?: EgressAttachment | undefined;
}

export interface PoolClaim {
  readonly containerId: string;
  /** False when the session already held a running container (a retried claim). */
  readonly created: boolean;
  /** True when the session held a container that had stopped: its files are gone. */
  readonly replacedStopped: boolean;
  /** warm: taken from the pool; cold: started for this claim; existing: already the session's. */
  readonly source: 'warm' | 'cold' | 'existing';
  /** Whether the claim had to wait for capacity. */
  readonly waited: boolean;
}

/** No container could be had within the wait timeout: the claim should be retried (Temporal does). */
export class PoolExhaustedError extends Error {
  override readonly name = 'PoolExhaustedError';
}

interface Idle {
  readonly id: string;
  readonly name: string;
  readonly createdMs: number;
  probing: boolean;
}

/** Resolves every waiter when something changes (an idle container, a free slot). */
class Signal {
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

const RETRY_BACKOFF_MS = [250, 1_000, 5_000, 15_000];
/**
 * After a warm claim, the refill waits this long: starting a container costs
 * CPU that the session's first command, due right now, would otherwise share.
 */
const REFILL_DELAY_MS = 300;
/** Claimed containers are asked about (isOrphan) every this many health sweeps. */
const ORPHAN_SWEEP_EVERY = 10;

export class SandboxPool {
  readonly #o: SandboxPoolOptions;
  readonly #now: () => number;
  #specLabel: readonly [string, string];
  /** Insertion order: the oldest idle container is claimed first. */
  readonly #idle = new Map<string, Idle>();
  #creating = 0;
  /** Idle names this process is creating or renaming right now: a resync leaves them alone. */
  readonly #busyNames = new Set<string>();
  #inUse = 0;
  readonly #changed = new Signal();
  readonly #claims = new Map<string, Promise<PoolClaim>>();
  readonly #oomKills = new Map<string, number>();
  readonly #oomSignal = new Signal();
  /** Fired by stop(): ends the refill's back-off at once. */
  readonly #stopping = new Signal();
  #refilling: Promise<void> | undefined;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #sweeps = 0;
  #running = false;
  #resyncing: Promise<void> | undefined;

  constructor(options: SandboxPoolOptions) {
    if (options.settings.minIdle > options.settings.maxTotal) {
      throw new SandboxRequestError(`minIdle (${options.settings.minIdle}) is more than maxTotal (${options.settings.maxTotal})`);
    }
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#specLabel = options.specLabel;
  }

  /** The spec hash once the image id is known (at start): idle containers of another one are recycled. */
  setSpecLabel(label: readonly [string, string]): void {
    this.#specLabel = label;
  }

  /** Counts for metrics and tests. */
  stats(): { idle: number; creating: number; inUse: number; waiting: number } {
    return { idle: this.#idle.size, creating: this.#creating, inUse: this.#inUse, waiting: this.#changed.waiting };
  }

  /** Rebuilds the state from the engine, follows its events, starts refilling and the health sweeps. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.resync();
    const removed = await this.#o.engine.removeUnusedVolumes(this.#o.selector).catch(() => 0);
    if (removed > 0) this.#o.logger?.info('removed unused workspace volumes', { removed });
    this.#watch();
    this.#timer = setInterval(() => void this.#sweep(), this.#o.settings.healthIntervalMs);
    this.#timer.unref();
    this.#kick();
  }

  /** Stops refilling, sweeps and event following; containers stay (a restarted worker adopts them). */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#changed.fire();
    this.#stopping.fire();
    await this.#refilling;
  }

  /** Removes the idle containers (a host that shuts down for good leaves no warm ones behind). */
  async drainIdle(): Promise<number> {
    const idle = [...this.#idle.values()];
    this.#idle.clear();
    this.#publish();
    for (const c of idle) await this.#o.engine.remove(c.id).catch(() => false);
    return idle.length;
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
    const [specKey, specValue] = this.#specLabel;
    let inUse = 0;
    const seen = new Set(found.map((c) => c.id));
    for (const c of found) {
      const parsed = this.#o.names.parse(c.name);
      if (parsed.kind === 'session') {
        inUse++;
        continue;
      }
      if (parsed.kind === 'idle') {
        if (this.#idle.has(c.id)) {
          if (!c.running) await this.#discard(c.id, 'stopped');
          continue;
        }
        // Being created by this process: not ours to judge yet.
        if (this.#busyNames.has(c.name)) continue;
        const usable = c.running && c.labels[specKey] === specValue && this.#now() - c.createdMs < this.#o.settings.maxAgeMs;
        if (usable && (await this.#o.engine.probe(c.id))) {
          this.#idle.set(c.id, { id: c.id, name: c.name, createdMs: c.createdMs, probing: false });
          this.#o.logger?.info('adopted an idle sandbox', { containerId: c.id.slice(0, 12), instance: c.labels['dev.kortix.instance'] });
          continue;
        }
      }
      await this.#o.engine.remove(c.id).catch(() => false);
      this.#o.logger?.info('removed a leftover sandbox', { containerId: c.id.slice(0, 12), name: c.name, running: c.running });
    }
    // Gone from the engine (idle containers added while listing were not listed: they stay).
    for (const id of [...this.#idle.keys()]) if (!seen.has(id) && !(await this.#o.engine.find(this.#idle.get(id)?.name ?? ''))) this.#idle.delete(id);
    this.#inUse = inUse;
    this.#publish();
    this.#changed.fire();
  }

  /**
   * The session's container: the one it holds if it runs, else an idle one
   * renamed for it, else a cold one (or a wait, by settings). Idempotent.
   */
  claim(request: ClaimRequest): Promise<PoolClaim> {
    const name = this.#o.names.session(request.sessionId);
    let inflight = this.#claims.get(request.sessionId);
    if (!inflight) {
      inflight = this.#claim(request, name).finally(() => this.#claims.delete(request.sessionId));
      this.#claims.set(request.sessionId, inflight);
    }
    return inflight;
  }

  /**
   * Tries to give the session a new container (warm, else cold, else waits);
   * a name conflict means the session has one already: a running one is
   * returned (a retried claim), a stopped one is removed and replaced. The
   * common path thus costs no lookup before the claim.
   */
  async #claim(request: ClaimRequest, name: string): Promise<PoolClaim> {
    const started = performance.now();
    const deadline = started + this.#o.settings.waitTimeoutMs;
    let waited = false;
    let replacedStopped = false;
    for (;;) {
      let got: { id: string; source: 'warm' | 'cold' } | 'conflict' | undefined;
      if (!request.egress) {
        const warm = await this.#takeIdle(name, request);
        got = warm === 'conflict' ? warm : warm ? { id: warm, source: 'warm' } : undefined;
      }
      const cold = request.egress !== undefined || this.#o.settings.whenEmpty === 'cold';
      if (!got && cold && this.#total() < this.#o.settings.maxTotal) {
        got = await this.#createCold(request, name).then(
          (id) => ({ id, source: 'cold' as const }),
          (err: unknown) => {
            if (err instanceof NameConflictError) return 'conflict' as const;
            throw err;
          },
        );
      }
      if (got === 'conflict') {
        const existing = await this.#o.engine.find(name);
        if (existing?.running) return { containerId: existing.id, created: false, replacedStopped, source: 'existing', waited: false };
        if (existing) {
          // Its container stopped (a restarted engine): its files are gone; it gets a new one.
          await this.#o.engine.remove(existing.id);
          this.#inUse = Math.max(0, this.#inUse - 1);
          replacedStopped = true;
        }
        continue;
      }
      if (got) {
        this.#claimed(started, got.source === 'warm' && !waited ? 'hit' : 'miss');
        return { containerId: got.id, created: true, replacedStopped, source: got.source, waited };
      }
      const left = deadline - performance.now();
      if (left <= 0 || !this.#running) {
        throw new PoolExhaustedError(
          `no sandbox free on this host within ${this.#o.settings.waitTimeoutMs} ms (${this.#inUse} in use, maxTotal ${this.#o.settings.maxTotal})`,
        );
      }
      waited = true;
      // Counted as waiting before the refill looks (in `wait` mode the refill serves waiting claims).
      const woken = this.#changed.wait(left);
      this.#kick();
      await woken;
    }
  }

  /**
   * Claims the oldest idle container for the session: writes its claim record
   * (the lock: one winner, even against another process of this host), then
   * renames it to the session's name. Undefined when no idle one is left.
   */
  async #takeIdle(name: string, owner: ClaimRequest): Promise<string | 'conflict' | undefined> {
    for (;;) {
      const candidates = [...this.#idle.values()];
      const pick = candidates.find((c) => !c.probing) ?? candidates[0];
      if (!pick) return undefined;
      // In use from now on (counted against maxTotal), unless the claim fails.
      this.#idle.delete(pick.id);
      this.#inUse++;
      this.#publish();
      if (this.#changed.waiting > 0) this.#kick();
      else setTimeout(() => this.#kick(), REFILL_DELAY_MS).unref();
      this.#busyNames.add(pick.name);
      let won = false;
      try {
        if (!(await this.#o.engine.mark(pick.id, owner))) {
          this.#o.logger?.warn('an idle sandbox was claimed by someone else', { containerId: pick.id.slice(0, 12) });
          continue;
        }
        won = await this.#o.engine.rename(pick.name, name);
        if (won) return pick.id;
        this.#o.logger?.warn('an idle sandbox vanished during its claim', { containerId: pick.id.slice(0, 12) });
      } catch (err) {
        // Marked for this session but not renamed: nobody can use it any more.
        await this.#o.engine.remove(pick.id).catch(() => false);
        // The session has a container already (a retried or concurrent claim).
        if (err instanceof NameConflictError) return 'conflict';
        throw err;
      } finally {
        this.#busyNames.delete(pick.name);
        if (!won) {
          this.#inUse = Math.max(0, this.#inUse - 1);
          this.#publish();
          this.#changed.fire();
        }
      }
    }
  }

  async #createCold(request: ClaimRequest, name: string): Promise<string> {
    this.#inUse++;
    this.#publish();
    const t0 = performance.now();
    try {
      const id = await this.#o.engine.create(
        this.#o.spec(name, {
          labels: { 'dev.kortix.session': request.sessionId, 'dev.kortix.tenant': request.tenantId },
          egress: request.egress,
        }),
      );
      this.#o.metrics?.containerStart.observe((performance.now() - t0) / 1000);
      return id;
    } catch (err) {
      this.#inUse = Math.max(0, this.#inUse - 1);
      this.#publish();
      this.#changed.fire();
      throw err;
    }
  }

  #claimed(started: number, result: 'hit' | 'miss'): void {
    this.#o.metrics?.sandboxClaim.observe({ result }, (performance.now() - started) / 1000);
  }

  /** Destroys the session's container and its workspace; idempotent. */
  async release(sessionId: string): Promise<{ removed: number }> {
    const name = this.#o.names.session(sessionId);
    const removed = await this.#o.engine.remove(name);
    if (removed) {
      this.#inUse = Math.max(0, this.#inUse - 1);
      this.#publish();
      this.#changed.fire();
      this.#kick();
    }
    return { removed: removed ? 1 : 0 };
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

  #total(): number {
    return this.#idle.size + this.#creating + this.#inUse;
  }

  #publish(): void {
    this.#o.metrics?.sandboxPoolIdle.set(this.#idle.size);
    this.#o.metrics?.sandboxPoolInUse.set(this.#inUse);
  }

  /** Starts the refill unless it runs. */
  #kick(): void {
    if (!this.#running || this.#refilling) return;
    this.#refilling = this.#refill().finally(() => {
      this.#refilling = undefined;
    });
  }

  async #refill(): Promise<void> {
    const { minIdle, maxTotal } = this.#o.settings;
    // Waiting claims count too: in `wait` mode they are served by the refill.
    while (this.#running && this.#idle.size + this.#creating < minIdle + this.#changed.waiting && this.#total() < maxTotal) {
      try {
        await this.#createIdle();
        this.#failures = 0;
      } catch (err) {
        const backoff = RETRY_BACKOFF_MS[Math.min(this.#failures, RETRY_BACKOFF_MS.length - 1)] ?? 1_000;
        this.#failures++;
        this.#o.logger?.warn('could not start a warm sandbox', { err, retryInMs: backoff });
        await this.#stopping.wait(backoff);
      }
    }
  }

  async #createIdle(): Promise<void> {
    const name = this.#o.names.idle(randomBytes(6).toString('hex'));
    this.#creating++;
    this.#busyNames.add(name);
    const t0 = performance.now();
    let id: string | undefined;
    try {
      id = await this.#o.engine.create(this.#o.spec(name, { labels: {} }));
      this.#o.metrics?.containerStart.observe((performance.now() - t0) / 1000);
      if (!(await this.#o.engine.probe(id))) throw new Error(`new sandbox ${id.slice(0, 12)} does not answer`);
      if (!this.#running) {
        await this.#o.engine.remove(id);
        return;
      }
      this.#idle.set(id, { id, name, createdMs: this.#now(), probing: false });
    } catch (err) {
      if (id) await this.#o.engine.remove(id).catch(() => false);
      throw err;
    } finally {
      this.#creating--;
      this.#busyNames.delete(name);
      this.#publish();
      this.#changed.fire();
    }
  }

  async #discard(id: string, why: string): Promise<void> {
    if (this.#idle.delete(id)) this.#publish();
    await this.#o.engine.remove(id).catch(() => false);
    this.#o.logger?.info('recycled an idle sandbox', { containerId: id.slice(0, 12), why });
    this.#changed.fire();
    this.#kick();
  }

  /**
   * Rebuilds from the engine, recycles idle containers past maxAge, probes the
   * others; every few sweeps asks about the claimed ones.
   */
  async #sweep(): Promise<void> {
    try {
      await this.resync();
      for (const c of [...this.#idle.values()]) {
        if (!this.#idle.has(c.id)) continue;
        if (this.#now() - c.createdMs >= this.#o.settings.maxAgeMs) {
          await this.#discard(c.id, 'max age');
          continue;
        }
        c.probing = true;
        const ok = await this.#o.engine.probe(c.id);
        c.probing = false;
        if (!ok && this.#idle.has(c.id)) await this.#discard(c.id, 'health check failed');
      }
      if (++this.#sweeps % ORPHAN_SWEEP_EVERY === 0) await this.reapOrphans();
      this.#kick();
    } catch (err) {
      this.#o.logger?.warn('sandbox pool sweep failed', { err });
    }
  }

  /** Removes claimed containers whose session no longer holds them (isOrphan); returns how many. */
  async reapOrphans(): Promise<number> {
    const isOrphan = this.#o.isOrphan;
    if (!isOrphan) return 0;
    let removed = 0;
    for (const c of await this.#o.engine.list(this.#o.selector)) {
      const parsed = this.#o.names.parse(c.name);
      if (parsed.kind !== 'session' || this.#claims.has(parsed.sessionId)) continue;
      const orphan = await isOrphan(parsed.sessionId, c.id).catch(() => false);
      if (orphan && (await this.#o.engine.remove(c.id))) {
        removed++;
        this.#inUse = Math.max(0, this.#inUse - 1);
        this.#o.logger?.info('removed an orphaned sandbox', { containerId: c.id.slice(0, 12), sessionId: parsed.sessionId });
      }
    }
    if (removed > 0) {
      this.#publish();
      this.#changed.fire();
      this.#kick();
    }
    return removed;
  }

  #watch(): void {
    if (!this.#running) return;
    this.#unwatch = this.#o.engine.watch(
      this.#o.selector,
      (e) => this.#onEvent(e),
      (err) => {
        if (!this.#running) return;
        this.#o.logger?.warn('lost the engine event stream; following again', { err: err?.message });
        // The engine may have restarted (every container stopped): rebuild from it once it answers.
        const again = () => {
          if (!this.#running) return;
          this.resync()
            .then(() => this.#watch())
            .then(() => this.#kick())
            .catch(() => setTimeout(again, 1_000).unref());
        };
        setTimeout(again, 250).unref();
      },
    );
  }

  #onEvent(e: EngineEvent): void {
    if (e.action === 'oom') {
      this.#oomKills.set(e.containerId, this.oomKills(e.containerId) + 1);
      this.#o.metrics?.sandboxOomKills.inc();
      this.#oomSignal.fire();
      return;
    }
    if (e.action === 'destroy') this.#oomKills.delete(e.containerId);
    if (this.#idle.has(e.containerId)) void this.#discard(e.containerId, e.action === 'die' ? 'stopped' : 'removed');
  }
}

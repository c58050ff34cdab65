/**
 * The warm pool on an in-memory engine (FakeEngine: containers, names, claim
 * records, events, a restart), and a factory of pools on it, for the pool's
 * unit tests (test/unit/sandbox-pool*.test.ts).
 */
import { createMetrics } from '../../observability/metrics.js';
import { LABELS, SandboxNames, type SandboxSpecInput } from '../../sandbox/container-spec.js';
import { NameConflictError, type ContainerRecord, type EngineEvent, type SandboxEngine } from '../../sandbox/engine.js';
import { SandboxPool, type PoolSettings } from '../../sandbox/pool.js';

export interface FakeContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
  createdMs: number;
  healthy: boolean;
  claimedBy?: string;
}

export class FakeEngine implements SandboxEngine {
  readonly containers = new Map<string, FakeContainer>();
  readonly removed: string[] = [];
  creates = 0;
  now = 1_000_000;
  #n = 0;
  #watchers: { onEvent: (e: EngineEvent) => void; onEnd: (err?: Error) => void }[] = [];
  /** Fails the next creates. */
  failCreates = 0;

  add(name: string, labels: Record<string, string>, extra: Partial<FakeContainer> = {}): FakeContainer {
    const c: FakeContainer = { id: `c${++this.#n}`, name, labels, running: true, createdMs: this.now, healthy: true, ...extra };
    this.containers.set(c.id, c);
    return c;
  }

  #byName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.name === name) ?? this.containers.get(name);
  }

  async list(labels: Readonly<Record<string, string>>): Promise<ContainerRecord[]> {
    return [...this.containers.values()].filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v)).map((c) => ({ ...c }));
  }

  async find(name: string): Promise<ContainerRecord | undefined> {
    const c = [...this.containers.values()].find((x) => x.name === name);
    return c ? { ...c } : undefined;
  }

  async create(spec: SandboxSpecInput): Promise<string> {
    await Promise.resolve();
    if (this.failCreates > 0) {
      this.failCreates--;
      throw new Error('engine unavailable');
    }
    if (this.#byName(spec.name)) throw new NameConflictError(spec.name);
    this.creates++;
    return this.add(spec.name, { ...spec.labels }).id;
  }

  async rename(from: string, to: string): Promise<boolean> {
    await Promise.resolve();
    const c = this.#byName(from);
    if (!c) return false;
    if (this.#byName(to)) throw new NameConflictError(to);
    c.name = to;
    return true;
  }

  async remove(idOrName: string): Promise<boolean> {
    const c = this.#byName(idOrName);
    if (!c) return false;
    this.containers.delete(c.id);
    this.removed.push(c.id);
    return true;
  }

  async removeUnusedVolumes(): Promise<number> {
    return 0;
  }

  async probe(id: string): Promise<boolean> {
    const c = this.containers.get(id);
    return c !== undefined && c.running && c.healthy && c.claimedBy === undefined;
  }

  async mark(id: string, owner: { sessionId: string }): Promise<boolean> {
    await Promise.resolve();
    const c = this.containers.get(id);
    if (!c?.running || c.claimedBy !== undefined) return false;
    c.claimedBy = owner.sessionId;
    return true;
  }

  watch(_labels: Readonly<Record<string, string>>, onEvent: (e: EngineEvent) => void, onEnd: (err?: Error) => void): () => void {
    const w = { onEvent, onEnd };
    this.#watchers.push(w);
    return () => {
      this.#watchers = this.#watchers.filter((x) => x !== w);
    };
  }

  emit(e: EngineEvent): void {
    for (const w of this.#watchers) w.onEvent(e);
  }

  /** The engine restarted: every container stopped, event streams ended. */
  restart(): void {
    for (const c of this.containers.values()) c.running = false;
    const watchers = this.#watchers;
    this.#watchers = [];
    for (const w of watchers) w.onEnd(new Error('connection reset'));
  }
}

export const names = new SandboxNames('pool-a', 'host-a');
export const selector = { [LABELS.managed]: 'true', [LABELS.pool]: 'pool-a', [LABELS.host]: 'host-a' };
export const SPEC = 'spec-1';
export const session = (n: number) => ({ sessionId: `ses_${n}`, tenantId: 'tenant-1' });
const pools: SandboxPool[] = [];

/** Stops every pool makePool made (call in afterEach). */
export async function stopPools(): Promise<void> {
  for (const p of pools.splice(0)) await p.stop();
}

export function makePool(
  engine: FakeEngine,
  settings: Partial<PoolSettings> = {},
  extra: { isOrphan?: (s: string) => Promise<boolean>; warmEgress?: () => boolean } = {},
) {
  const metrics = createMetrics({ service: 'test', defaultMetrics: false });
  const pool = new SandboxPool({
    engine,
    names,
    selector,
    specLabel: [LABELS.spec, SPEC],
    spec: (name, e) => ({
      image: 'img',
      name,
      volumeName: `${name}-ws`,
      healthCheckIntervalMs: 0,
      labels: { ...selector, [LABELS.spec]: SPEC, ...e.labels },
      limits: { memoryMb: 1, cpus: 1, pidsLimit: 1, workspaceMb: 1, tmpMb: 1 },
      egress: e.egress,
    }),
    settings: { minIdle: 2, maxTotal: 4, maxAgeMs: 60_000, whenEmpty: 'cold', waitTimeoutMs: 300, healthIntervalMs: 3_600_000, ...settings },
    isOrphan: extra.isOrphan,
    warmEgress: extra.warmEgress,
    metrics,
    now: () => engine.now,
  });
  pools.push(pool);
  return { pool, metrics };
}

export async function until(what: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const idleNamed = (engine: FakeEngine) => [...engine.containers.values()].filter((c) => names.parse(c.name).kind === 'idle');

/** The warm pool's options: its settings (SANDBOX_POOL_*), the metrics it feeds, and what it is built from. */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { EgressAttachment, SandboxNames, SandboxSpecInput } from './container-spec.js';
import type { SandboxEngine } from './engine.js';

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

/** The metrics the pool updates. */
export type PoolMetrics = Pick<Metrics, 'containerStart' | 'sandboxPoolIdle' | 'sandboxPoolInUse' | 'sandboxClaim' | 'sandboxOomKills'>;

/** What a SandboxPool is built from. */
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
  /**
   * True when idle containers can join the egress network at claim (the host runs a proxy and made
   * them for it): a claim with `egress` then takes a warm one too, and the host connects it.
   */
  readonly warmEgress?: (() => boolean) | undefined;
  /**
   * Called when a claim starts to wait for room (the pool is at maxTotal with nothing idle it can use): the host may
   * then park an idle session's sandbox to free a slot (activities/sandbox-evictor.ts). Must not throw.
   */
  readonly onPressure?: (() => void) | undefined;
  /** The wall clock, in ms, against which container ages are judged (tests move it). */
  readonly now?: () => number;
}

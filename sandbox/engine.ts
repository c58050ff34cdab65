/**
 * The few container-engine operations the warm pool needs, as our own seam:
 * sandbox/docker-engine.ts implements them with dockerode, and unit tests
 * drive the pool with an in-memory engine.
 */
import type { SandboxSpecInput } from './container-spec.js';

/** A container as the pool sees it. */
export interface ContainerRecord {
  readonly id: string;
  /** Without Docker's leading slash. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly running: boolean;
  /** When the engine created it, in ms since the epoch. */
  readonly createdMs: number;
}

/** What the engine tells about a container of the pool. */
export interface EngineEvent {
  readonly containerId: string;
  readonly action: 'die' | 'oom' | 'destroy';
}

/** The name a container was to be renamed to belongs to another container already. */
export class NameConflictError extends Error {
  override readonly name = 'NameConflictError';
}

export interface SandboxEngine {
  /** Every container (running or not) carrying all of these labels. */
  list(labels: Readonly<Record<string, string>>): Promise<ContainerRecord[]>;
  /** The container of that exact name, if any. */
  find(name: string): Promise<ContainerRecord | undefined>;
  /** Creates the workspace volume and the container, starts it, returns its id. NameConflictError if the name is taken. */
  create(spec: SandboxSpecInput): Promise<string>;
  /**
   * Renames `from` (a name) to `to`, so that the session finds its container
   * by name. False when `from` no longer exists; NameConflictError when `to` exists.
   */
  rename(from: string, to: string): Promise<boolean>;
  /** Removes the container, its processes and its workspace volume; false when it was already gone. */
  remove(idOrName: string): Promise<boolean>;
  /**
   * Removes volumes with these labels that no container uses (left by a crash between the two creates); and, where
   * `owns` says a name is the pool's, unused ones with no labels at all: a restarted engine lists again a volume
   * directory whose metadata it lost (one removed or created as it went down), without labels or options.
   */
  removeUnusedVolumes(labels: Readonly<Record<string, string>>, owns?: (name: string) => boolean): Promise<number>;
  /**
   * True when the container runs, answers, and nobody has claimed it; the
   * Docker engine also opens its exec channel here, and starts (or checks)
   * the sandbox's browser when the host has one (sandbox/browser-host.ts).
   */
  probe(id: string): Promise<boolean>;
  /**
   * Writes the container's claim record unless it has one: true for exactly
   * one caller, whichever process it runs in (the lock of a claim).
   */
  mark(id: string, owner: { sessionId: string; tenantId: string }): Promise<boolean>;
  /**
   * Follows die/oom/destroy events of containers carrying these labels until
   * the returned function is called. `onEnd` says the stream stopped (the
   * engine restarted, the connection broke); the caller subscribes again.
   */
  watch(labels: Readonly<Record<string, string>>, onEvent: (event: EngineEvent) => void, onEnd: (err?: Error) => void): () => void;
}

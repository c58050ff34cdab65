/**
 * Parking under pressure (SANDBOX_POOL_EVICT_IDLE, issue 16): when a claim on
 * this host waits for room, the sandbox of a session that has not run a tool
 * for at least `idleMs` (it waits on its model, most of a step) is parked as a
 * waiting session's would be (workflows/session-park.ts): its workspace saved
 * as an artifact of the session (ref `workspace:evicted:<container>`), the
 * container released, its slot to the line. The session learns at its next
 * tool call (execTool fails with SANDBOX_PARKED and the tarball), claims again
 * with it restored, and runs the call there. Kept, as a park keeps them: a
 * sandbox in which a process the session started still runs, and one on the
 * egress network (grants and the proxy's view are the container's).
 * One eviction at a time per host; a session's tool run and its eviction never
 * overlap (begin waits for an eviction under way; an eviction skips a busy one).
 */
import type { Db } from '../db/client.js';
import { endSandboxLease } from '../db/tenant-limits.js';
import type { SessionRef } from '../domain/session.js';
import type { Logger } from '../observability/logger.js';
import type { DockerSandboxHost } from '../sandbox/docker-host.js';
import { saveWorkspace, unrestorable, type ArtifactToolDeps } from './artifact-tools.js';
import type { ParkedWorkspace } from './types.js';

interface Held {
  readonly session: SessionRef;
  readonly containerId: string;
  /** Tool runs in it now. */
  busy: number;
  /** When its last tool run ended (or it was claimed). */
  lastUsedMs: number;
  /** On the egress network: never parked here. */
  readonly egress: boolean;
  /** A process it started was found running, or parking it failed: not parked again until its next tool run. */
  kept: boolean;
}

export interface EvictorDeps {
  readonly db: Db;
  readonly host: DockerSandboxHost;
  readonly artifacts: ArtifactToolDeps;
  /** How long a sandbox must have been idle to be parked for a waiting claim. */
  readonly idleMs: number;
  readonly logger?: Logger | undefined;
  readonly now?: () => number;
}

/** The artifact ref an eviction saves the workspace under: one per container, found again by any process. */
export const evictedRef = (containerId: string) => `workspace:evicted:${containerId}`;

export class SandboxEvictor {
  readonly #deps: EvictorDeps;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();
  /** Evictions under way, by session. */
  readonly #evicting = new Map<string, Promise<void>>();
  /** Parked by an eviction of this process, by container id: the next tool call of its session is told so at once. */
  readonly #evicted = new Map<string, { readonly sessionId: string; readonly workspace: ParkedWorkspace }>();
  #running = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(deps: EvictorDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** A claim gave the session this container. */
  claimed(session: SessionRef, containerId: string, egress: boolean): void {
    this.#held.set(session.sessionId, { session, containerId, busy: 0, lastUsedMs: this.#now(), egress, kept: false });
  }

  /** The session's sandbox is released (or parked): nothing more to track. */
  released(sessionId: string): void {
    this.#held.delete(sessionId);
    for (const [containerId, e] of this.#evicted) if (e.sessionId === sessionId) this.#evicted.delete(containerId);
  }

  /** The workspace of the session's sandbox if an eviction here parked it and its session has not moved on yet. */
  evictedFor(sessionId: string): ParkedWorkspace | undefined {
    return [...this.#evicted.values()].find((e) => e.sessionId === sessionId)?.workspace;
  }

  /**
   * Before a tool runs in `containerId`: waits for an eviction of it under way; the parked workspace when it was
   * evicted (the call must move), else undefined, the run counted until `end`.
   */
  async begin(sessionId: string, containerId: string): Promise<ParkedWorkspace | undefined> {
    await this.#evicting.get(sessionId);
    const parked = this.#evicted.get(containerId);
    if (parked) {
      // Told once: the session now claims again with it.
      this.#evicted.delete(containerId);
      return parked.workspace;
    }
    const held = this.#held.get(sessionId);
    if (held?.containerId === containerId) {
      held.busy += 1;
      held.kept = false;
    }
    return undefined;
  }

  /** After the tool run of `begin`. */
  end(sessionId: string, containerId: string): void {
    const held = this.#held.get(sessionId);
    if (held?.containerId !== containerId) return;
    held.busy = Math.max(0, held.busy - 1);
    held.lastUsedMs = this.#now();
  }

  /** A claim waits for room: park the longest-idle sandbox idle long enough, once at a time; look again later while claims wait. */
  pressure(): void {
    if (this.#running) return;
    const now = this.#now();
    const candidates = [...this.#held.values()].filter((h) => !h.egress && !h.kept && h.busy === 0 && !this.#evicting.has(h.session.sessionId)).sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    const pick = candidates.find((h) => now - h.lastUsedMs >= this.#deps.idleMs);
    if (!pick) {
      // Someone may become idle long enough (or end a tool run) while the claim still waits: look again then.
      const soonest = candidates[0];
      const inMs = soonest ? this.#deps.idleMs - (now - soonest.lastUsedMs) : this.#deps.idleMs;
      if (!this.#retry) {
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          if (this.#deps.host.stats().waiting > 0) this.pressure();
        }, Math.max(50, inMs));
        this.#retry.unref();
      }
      return;
    }
    this.#running = true;
    const done = this.#evict(pick)
      .catch((err: unknown) => {
        pick.kept = true;
        this.#deps.logger?.warn('could not park an idle sandbox for a waiting claim', { sessionId: pick.session.sessionId, err });
      })
      .finally(() => {
        this.#evicting.delete(pick.session.sessionId);
        this.#running = false;
        // More claims may wait than one eviction freed.
        if (this.#deps.host.stats().waiting > 0) this.pressure();
      });
    this.#evicting.set(pick.session.sessionId, done);
  }

  async #evict(held: Held): Promise<void> {
    const { host, artifacts, db } = this.#deps;
    const { session, containerId } = held;
    const strays = await host.strayProcesses(session.sessionId);
    if (strays.length > 0) {
      // Until its next tool run: a process it started keeps it.
      held.kept = true;
      return;
    }
    const saved = await saveWorkspace(artifacts, session, host.sessionContainer(session.sessionId), evictedRef(containerId));
    if ('error' in saved) throw new Error(`its workspace could not be saved: ${saved.error}`);
    const refused = await unrestorable(artifacts, session, saved);
    if (refused) {
      held.kept = true;
      return;
    }
    // Before the release: a tool call that comes once the container is gone is told where its files went.
    this.#evicted.set(containerId, { sessionId: session.sessionId, workspace: saved });
    this.#held.delete(session.sessionId);
    await host.release(session.sessionId);
    await endSandboxLease(db, session);
    this.#deps.logger?.info('parked an idle sandbox for a waiting claim', { sessionId: session.sessionId, containerId: containerId.slice(0, 12), bytes: saved.bytes });
  }
}

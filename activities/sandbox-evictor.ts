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
 * At most EVICTIONS_AT_ONCE per host, and no more than claims wait; a
 * session's tool run and its eviction never overlap (begin waits for an
 * eviction under way; an eviction skips a busy one).
 */
import type { SessionRef } from '../domain/session.js';
import type { Logger } from '../observability/logger.js';
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
  /** Claims waiting for room on this host now. */
  readonly waiting: () => number;
  /** Saves the workspace under `ref` if the sandbox may go (activities/artifact-tools.ts parkWorkspace), else why it stays. */
  readonly save: (session: SessionRef, ref: string) => Promise<ParkedWorkspace | { kept: string }>;
  /** Releases the session's sandbox once its workspace is saved (the container, the tenant's sandbox count). */
  readonly release: (session: SessionRef) => Promise<void>;
  /** How long a sandbox must have been idle to be parked for a waiting claim. */
  readonly idleMs: number;
  readonly logger?: Logger | undefined;
  readonly now?: () => number;
}

/** Evictions under way at once on one host: each is a tarball and a container removal (Docker's and this process's CPU). */
export const EVICTIONS_AT_ONCE = 4;

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

  /** Claims wait for room: park the longest-idle sandboxes idle long enough, one per waiting claim; look again later while claims wait. */
  pressure(): void {
    const room = Math.min(EVICTIONS_AT_ONCE, this.#deps.waiting()) - this.#evicting.size;
    for (let i = 0; i < room; i++) if (!this.#evictOne()) return;
  }

  /** Starts parking the longest-idle candidate; false when there is none (a look again is scheduled). */
  #evictOne(): boolean {
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
          if (this.#deps.waiting() > 0) this.pressure();
        }, Math.max(50, inMs));
        this.#retry.unref();
      }
      return false;
    }
    const done = this.#evict(pick)
      .catch((err: unknown) => {
        pick.kept = true;
        this.#deps.logger?.warn('could not park an idle sandbox for a waiting claim', { sessionId: pick.session.sessionId, err });
      })
      .finally(() => {
        this.#evicting.delete(pick.session.sessionId);
        // More claims may wait than the evictions under way free.
        if (this.#deps.waiting() > 0) this.pressure();
      });
    this.#evicting.set(pick.session.sessionId, done);
    return true;
  }

  async #evict(held: Held): Promise<void> {
    const { session, containerId } = held;
    const saved = await this.#deps.save(session, evictedRef(containerId));
    if ('kept' in saved) {
      // Until its next tool run: a process of its own, or a workspace that would not come back whole.
      held.kept = true;
      this.#deps.logger?.info('kept an idle sandbox a waiting claim could have had', { sessionId: session.sessionId, why: saved.kept });
      return;
    }
    // Before the release: a tool call that comes once the container is gone is told where its files went.
    this.#evicted.set(containerId, { sessionId: session.sessionId, workspace: saved });
    this.#held.delete(session.sessionId);
    await this.#deps.release(session);
    this.#deps.logger?.info('parked an idle sandbox for a waiting claim', { sessionId: session.sessionId, containerId: containerId.slice(0, 12), bytes: saved.bytes });
  }
}

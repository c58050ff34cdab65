/**
 * The warm pool's claim path: a session gets the container it holds, else an
 * idle one (claim record, then rename), else a cold one or a wait; and its
 * release, which destroys the container. A warm container joins the egress
 * network after the claim (DockerSandboxHost.claim), not here.
 */
import type { EgressAttachment } from './container-spec.js';
import { NameConflictError } from './engine.js';
import type { SandboxPoolOptions } from './pool-options.js';
import type { PoolState } from './pool-state.js';

/** A session asking for its container. */
export interface ClaimRequest {
  readonly sessionId: string;
  readonly tenantId: string;
  /**
   * Set for sessions whose policy names hosts: a warm container when the pool's can join the egress
   * network (warmEgress; the host connects it after the claim), else one started cold on that network.
   */
  readonly egress?: EgressAttachment | undefined;
}

/** The container a claim got, and how. */
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

/**
 * After a warm claim, the refill waits this long: starting a container costs
 * CPU that the session's first command, due right now, would otherwise share.
 */
const REFILL_DELAY_MS = 300;

/** Claims and releases the containers of one pool's sessions; one claim at a time per session. */
export class PoolClaims {
  readonly #options: SandboxPoolOptions;
  readonly #state: PoolState;
  /** Starts the refill unless it runs (PoolUpkeep.kick). */
  readonly #kick: () => void;
  readonly #claims = new Map<string, Promise<PoolClaim>>();

  constructor(options: SandboxPoolOptions, state: PoolState, kick: () => void) {
    this.#options = options;
    this.#state = state;
    this.#kick = kick;
  }

  /** Whether a claim of the session runs now. */
  has(sessionId: string): boolean {
    return this.#claims.has(sessionId);
  }

  /**
   * The session's container: the one it holds if it runs, else an idle one
   * renamed for it, else a cold one (or a wait, by settings). Idempotent.
   */
  claim(request: ClaimRequest): Promise<PoolClaim> {
    const name = this.#options.names.session(request.sessionId);
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
    const deadline = started + this.#options.settings.waitTimeoutMs;
    let waited = false;
    let replacedStopped = false;
    // Secrets bound to hosts need the proxy's CA in the environment, which only a container made for them has.
    const secrets = (request.egress?.secrets?.secrets.length ?? 0) > 0;
    const warmOk = !request.egress || (this.#options.warmEgress?.() === true && !secrets);
    for (;;) {
      let got: { id: string; source: 'warm' | 'cold' } | 'conflict' | undefined;
      if (warmOk) {
        const warm = await this.#takeIdle(name, request);
        got = warm === 'conflict' ? warm : warm ? { id: warm, source: 'warm' } : undefined;
      }
      const cold = !warmOk || this.#options.settings.whenEmpty === 'cold';
      if (!got && cold && this.#state.total() < this.#options.settings.maxTotal) {
        got = await this.#createCold(request, name).then(
          (id) => ({ id, source: 'cold' as const }),
          (err: unknown) => {
            if (err instanceof NameConflictError) return 'conflict' as const;
            throw err;
          },
        );
      }
      if (got === 'conflict') {
        const existing = await this.#options.engine.find(name);
        if (existing?.running) return { containerId: existing.id, created: false, replacedStopped, source: 'existing', waited: false };
        if (existing) {
          // Its container stopped (a restarted engine): its files are gone; it gets a new one.
          await this.#options.engine.remove(existing.id);
          this.#state.unclaimed();
          replacedStopped = true;
        }
        continue;
      }
      if (got) {
        this.#claimed(started, got.source === 'warm' && !waited ? 'hit' : 'miss');
        return { containerId: got.id, created: true, replacedStopped, source: got.source, waited };
      }
      const left = deadline - performance.now();
      if (left <= 0 || !this.#state.running) {
        throw new PoolExhaustedError(
          `no sandbox free on this host within ${this.#options.settings.waitTimeoutMs} ms (${this.#state.inUse} in use, maxTotal ${this.#options.settings.maxTotal})`,
        );
      }
      waited = true;
      // Counted as waiting before the refill looks (in `wait` mode the refill serves waiting claims).
      const woken = this.#state.changed.wait(left);
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
      const candidates = [...this.#state.idle.values()];
      const pick = candidates.find((c) => !c.probing) ?? candidates[0];
      if (!pick) return undefined;
      // In use from now on (counted against maxTotal), unless the claim fails.
      this.#state.idle.delete(pick.id);
      this.#state.claimed();
      this.#state.publish();
      if (this.#state.changed.waiting > 0) this.#kick();
      else setTimeout(() => this.#kick(), REFILL_DELAY_MS).unref();
      this.#state.busyNames.add(pick.name);
      let won = false;
      try {
        if (!(await this.#options.engine.mark(pick.id, owner))) {
          this.#options.logger?.warn('an idle sandbox was claimed by someone else', { containerId: pick.id.slice(0, 12) });
          continue;
        }
        won = await this.#options.engine.rename(pick.name, name);
        if (won) return pick.id;
        this.#options.logger?.warn('an idle sandbox vanished during its claim', { containerId: pick.id.slice(0, 12) });
      } catch (err) {
        // Marked for this session but not renamed: nobody can use it any more.
        await this.#options.engine.remove(pick.id).catch(() => false);
        // The session has a container already (a retried or concurrent claim).
        if (err instanceof NameConflictError) return 'conflict';
        throw err;
      } finally {
        this.#state.busyNames.delete(pick.name);
        if (!won) {
          this.#state.unclaimed();
          this.#state.publish();
          this.#state.changed.fire();
        }
      }
    }
  }

  async #createCold(request: ClaimRequest, name: string): Promise<string> {
    this.#state.claimed();
    this.#state.publish();
    const t0 = performance.now();
    try {
      const id = await this.#options.engine.create(
        this.#options.spec(name, {
          labels: { 'dev.kortix.session': request.sessionId, 'dev.kortix.tenant': request.tenantId },
          egress: request.egress,
        }),
      );
      this.#options.metrics?.containerStart.observe((performance.now() - t0) / 1000);
      return id;
    } catch (err) {
      this.#state.unclaimed();
      this.#state.publish();
      this.#state.changed.fire();
      throw err;
    }
  }

  #claimed(started: number, result: 'hit' | 'miss'): void {
    this.#options.metrics?.sandboxClaim.observe({ result }, (performance.now() - started) / 1000);
  }

  /** Destroys the session's container and its workspace; idempotent. */
  async release(sessionId: string): Promise<{ removed: number }> {
    const name = this.#options.names.session(sessionId);
    const removed = await this.#options.engine.remove(name);
    if (removed) {
      this.#state.unclaimed();
      this.#state.publish();
      this.#state.changed.fire();
      this.#kick();
    }
    return { removed: removed ? 1 : 0 };
  }
}

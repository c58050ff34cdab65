/**
 * The warm pool's claim path: a session gets the container it holds, else an
 * idle one (claim record, then rename), else a cold one, else waits its turn
 * (pool-queue.ts: first come, first served); and its release, which destroys
 * the container. A claim whose callers all gave up (their AbortSignals) leaves
 * the line and keeps nothing it got. A warm container joins the egress
 * network after the claim (DockerSandboxHost.claim), not here.
 */
import { raceAbort } from './abort.js';
import type { EgressAttachment } from './container-spec.js';
import { NameConflictError } from './engine.js';
import type { SandboxPoolOptions } from './pool-options.js';
import type { Grant, Turn } from './pool-queue.js';
import type { Idle, PoolState } from './pool-state.js';

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

/** The one claim running for a session, shared by its concurrent callers. */
interface SharedClaim {
  readonly promise: Promise<PoolClaim>;
  /** Aborted once no caller wants the claim any more. */
  readonly abort: AbortController;
  /** Callers still waiting that can abort; Infinity once one came without a signal (it never gives up). */
  wanted: number;
}

/** Claims and releases the containers of one pool's sessions; one claim at a time per session. */
export class PoolClaims {
  readonly #options: SandboxPoolOptions;
  readonly #state: PoolState;
  /** Starts the refill unless it runs (PoolUpkeep.kick). */
  readonly #kick: () => void;
  readonly #claims = new Map<string, SharedClaim>();

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
   * When `signal` aborts, this caller's claim rejects at once with its reason.
   *
   * Concurrent claims of one session share one claim (one place in line, one
   * container), and an abort drops only its own caller: the shared claim gives
   * up (leaves the line, gives back or destroys what it got) once every caller
   * aborted. One caller may be the retry of a claimSandbox attempt that timed
   * out (its signal aborts late, at its next heartbeat) and still want the
   * container the timed-out attempt waited for. A caller that comes once all
   * the others gave up gets a claim of its own.
   */
  claim(request: ClaimRequest, signal?: AbortSignal): Promise<PoolClaim> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    let shared = this.#claims.get(request.sessionId);
    if (!shared || shared.abort.signal.aborted) shared = this.#share(request, shared);
    if (!signal) {
      shared.wanted = Infinity;
      return shared.promise;
    }
    shared.wanted += 1;
    const claim = shared;
    // This caller is rejected first (raceAbort's listener comes first), then the claim stops when nobody wants it.
    const mine = raceAbort(claim.promise, signal);
    const gaveUp = () => {
      if (--claim.wanted === 0) claim.abort.abort(signal.reason);
    };
    signal.addEventListener('abort', gaveUp, { once: true });
    const settled = () => signal.removeEventListener('abort', gaveUp);
    claim.promise.then(settled, settled);
    return mine;
  }

  /** Starts the session's claim, shared by the callers that come while it runs. */
  #share(request: ClaimRequest, givenUp: SharedClaim | undefined): SharedClaim {
    const abort = new AbortController();
    const name = this.#options.names.session(request.sessionId);
    const run = () => this.#claim(request, name, abort.signal);
    // One given up may still be destroying the container it got under the session's name: this one starts after it.
    const promise = (givenUp ? givenUp.promise.then(run, run) : run()).finally(() => {
      if (this.#claims.get(request.sessionId) === shared) this.#claims.delete(request.sessionId);
    });
    const shared: SharedClaim = { promise, abort, wanted: 0 };
    this.#claims.set(request.sessionId, shared);
    return shared;
  }

  /**
   * Tries to give the session a new container (warm, else cold, else waits
   * its turn); a name conflict means the session has one already: a running
   * one is returned (a retried claim), a stopped one is removed and replaced.
   * The common path thus costs no lookup before the claim.
   */
  async #claim(request: ClaimRequest, name: string, signal: AbortSignal): Promise<PoolClaim> {
    const started = performance.now();
    const deadline = started + this.#options.settings.waitTimeoutMs;
    const queue = this.#state.changed;
    // Its place in line: the one its last try kept when it timed out (a retry), else the end of the line.
    const ticket = queue.ticket(request.sessionId);
    let waited = false;
    let replacedStopped = false;
    // Secrets bound to hosts need the proxy's CA in the environment, which only a container made for them has.
    const secrets = (request.egress?.secrets?.secrets.length ?? 0) > 0;
    const warmOk = !request.egress || (this.#options.warmEgress?.() === true && !secrets);
    const want = { warm: warmOk, cold: !warmOk || this.#options.settings.whenEmpty === 'cold' };
    for (;;) {
      let turn: Turn<Idle>;
      try {
        turn = queue.turn(ticket, want, deadline - performance.now(), signal);
      } catch (err) {
        // Its callers gave up (the session was cancelled or the attempt timed out): a retry may still come, as after a timeout.
        queue.keep(request.sessionId, ticket);
        // After a lost container or a stopped one removed, the slot freed was this claim's next turn: the next in line's now.
        queue.fire();
        this.#kick();
        throw err;
      }
      let grant = turn && 'grant' in turn ? turn.grant : undefined;
      if (turn && 'wait' in turn) {
        waited = true;
        // Counted as waiting before the refill looks (in `wait` mode the refill serves waiting claims).
        this.#kick();
        this.#options.onPressure?.();
        try {
          grant = await turn.wait;
        } catch (err) {
          queue.keep(request.sessionId, ticket);
          throw err;
        }
        // Handed over in the same moment its callers gave up: the next in line gets it instead.
        if (grant && signal.aborted) {
          this.#giveBack(grant);
          queue.keep(request.sessionId, ticket);
          throw signal.reason;
        }
      }
      if (!grant) {
        queue.keep(request.sessionId, ticket);
        throw new PoolExhaustedError(
          `no sandbox free on this host within ${this.#options.settings.waitTimeoutMs} ms (${this.#state.inUse} in use, maxTotal ${this.#options.settings.maxTotal})`,
        );
      }
      let got: { id: string; source: 'warm' | 'cold' } | 'conflict' | 'lost';
      if (grant.kind === 'warm') {
        const warm = await this.#useIdle(grant.idle, name, request);
        got = warm === 'conflict' || warm === 'lost' ? warm : { id: warm, source: 'warm' };
      } else {
        // Another process of this host claimed that idle container first: its slot is not ours; the next turn, as 'lost'.
        if (grant.evict && !(await this.#evict(grant.evict, request))) continue;
        got = await this.#createCold(request, name).then(
          (id) => ({ id, source: 'cold' as const }),
          (err: unknown) => {
            if (err instanceof NameConflictError) return 'conflict' as const;
            throw err;
          },
        );
      }
      // Someone else had that one: the next, from the same place in line.
      if (got === 'lost') continue;
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
      if (signal.aborted) {
        // Marked or created for a session that no longer wants it: destroyed, its slot to the next in line.
        await this.#discardClaimed(got.id);
        queue.keep(request.sessionId, ticket);
        throw signal.reason;
      }
      this.#claimed(started, got.source === 'warm' && !waited ? 'hit' : 'miss');
      return { containerId: got.id, created: true, replacedStopped, source: got.source, waited };
    }
  }

  /** A grant not used at all: the idle container back first in line, or the slot freed; the next waiting claim gets it. */
  #giveBack(grant: Grant<Idle>): void {
    const idle = grant.kind === 'warm' ? grant.idle : grant.evict;
    if (idle) this.#state.giveBack(idle);
    this.#slotFreed();
  }

  /** A container in use is gone or idle again: one fewer in use, and the next waiting claim gets the room. */
  #slotFreed(): void {
    this.#state.unclaimed();
    this.#state.publish();
    this.#state.changed.fire();
    this.#kick();
  }

  /**
   * Removes the idle container whose slot this claim got (counted in use already, for the container the claim starts
   * next). Named idle while it goes: a resync must not adopt it again. A failed removal leaves it to the resync.
   * Its claim record first, as a warm claim does (the lock across processes): false, and nothing removed, when
   * another process of this host claimed it for its session (or it is gone); the slot is then given up as after 'lost'.
   */
  async #evict(idle: Idle, owner: ClaimRequest): Promise<boolean> {
    this.#state.busyNames.add(idle.name);
    try {
      if (!(await this.#options.engine.mark(idle.id, owner).catch(() => false))) {
        this.#options.logger?.warn('an idle sandbox to make room with was claimed by someone else', { containerId: idle.id.slice(0, 12) });
        this.#state.unclaimed();
        this.#state.publish();
        return false;
      }
      await this.#options.engine.remove(idle.id).catch(() => false);
    } finally {
      this.#state.busyNames.delete(idle.name);
    }
    this.#options.logger?.info('removed an idle sandbox to start one a waiting claim can use', { containerId: idle.id.slice(0, 12) });
    return true;
  }

  /** Destroys a container this claim marked or created (as release does); the slot goes to the next waiting claim. */
  async #discardClaimed(containerId: string): Promise<void> {
    const removed = await this.#options.engine.remove(containerId).catch(() => false);
    // Not removed (the engine failed): it stays counted, under the session's name, until a resync or the orphan sweep.
    if (!removed) return;
    this.#slotFreed();
  }

  /**
   * Claims the idle container the queue handed over (already counted in use):
   * writes its claim record (the lock: one winner, even against another process
   * of this host), then renames it to the session's name. 'lost' when another
   * process had it or it vanished.
   */
  async #useIdle(pick: Idle, name: string, owner: ClaimRequest): Promise<string | 'conflict' | 'lost'> {
    this.#state.publish();
    if (this.#state.changed.waiting > 0) this.#kick();
    else setTimeout(() => this.#kick(), REFILL_DELAY_MS).unref();
    this.#state.busyNames.add(pick.name);
    let won = false;
    let lost = false;
    try {
      if (!(await this.#options.engine.mark(pick.id, owner))) {
        this.#options.logger?.warn('an idle sandbox was claimed by someone else', { containerId: pick.id.slice(0, 12) });
        lost = true;
        return 'lost';
      }
      won = await this.#options.engine.rename(pick.name, name);
      if (won) return pick.id;
      this.#options.logger?.warn('an idle sandbox vanished during its claim', { containerId: pick.id.slice(0, 12) });
      lost = true;
      return 'lost';
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
        // A lost one: this claim takes its next turn at once, before anyone behind it (turn serves in order).
        if (!lost) this.#state.changed.fire();
      }
    }
  }

  /** Starts a container for the session in the slot the queue handed over (already counted in use). */
  async #createCold(request: ClaimRequest, name: string): Promise<string> {
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
    if (removed) this.#slotFreed();
    return { removed: removed ? 1 : 0 };
  }
}

/**
 * A claim whose caller gives up (the claimSandbox activity cancelled: its
 * session was cancelled or ended, or the attempt timed out) leaves the line at
 * once, so the next claim gets what frees, and keeps no container: one it was
 * handed, or is still creating or marking, goes back or is destroyed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SandboxSpecInput } from '../../sandbox/container-spec.js';
import { FakeEngine, idleNamed, makePool, names, session, stopPools, until } from '../support/fake-pool-engine.js';

afterEach(stopPools);

/** An engine whose creates and claim records wait, while held, for open() (a claim is mid-way when its caller gives up). */
class HeldEngine extends FakeEngine {
  readonly held = new Set<'create' | 'mark'>();
  readonly #gates = new Map<'create' | 'mark', { promise: Promise<void>; open: () => void }>();

  async #pass(step: 'create' | 'mark'): Promise<void> {
    if (!this.held.has(step)) return;
    let gate = this.#gates.get(step);
    if (!gate) {
      let open = () => undefined as void;
      const promise = new Promise<void>((r) => (open = r));
      gate = { promise, open };
      this.#gates.set(step, gate);
    }
    await gate.promise;
  }

  open(step: 'create' | 'mark'): void {
    this.held.delete(step);
    this.#gates.get(step)?.open();
    this.#gates.delete(step);
  }

  override async create(spec: SandboxSpecInput): Promise<string> {
    await this.#pass('create');
    return super.create(spec);
  }

  override async mark(id: string, owner: { sessionId: string }): Promise<boolean> {
    await this.#pass('mark');
    return super.mark(id, owner);
  }
}

/** Containers that are, or were marked as, the session's. */
const heldFor = (engine: FakeEngine, sessionId: string) =>
  [...engine.containers.values()].filter((c) => c.name === names.session(sessionId) || c.claimedBy === sessionId);

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'granted',
    (err: unknown) => err,
  );

/** A pool of one container, which ses_0 holds, started (`whenEmpty`: cold or wait for the refill). */
async function fullPool(engine: FakeEngine, whenEmpty: 'cold' | 'wait' = 'cold') {
  const { pool } = makePool(engine, { minIdle: 0, maxTotal: 1, whenEmpty, waitTimeoutMs: 10_000 });
  await pool.start();
  await pool.claim(session(0));
  return pool;
}

/** A full pool with two claims waiting in line: ses_1's, which `cancel` aborts, then ses_2's. */
async function twoWaiting(engine: FakeEngine, whenEmpty: 'cold' | 'wait' = 'cold') {
  const pool = await fullPool(engine, whenEmpty);
  const cancel = new AbortController();
  const first = outcome(pool.claim(session(1), cancel.signal));
  const second = pool.claim(session(2));
  await until(() => pool.stats().waiting === 2);
  return { pool, cancel, first, second };
}

/** The aborted claim failed with its reason and kept nothing; the next one got the container. */
async function expectHandedOn(engine: FakeEngine, line: Awaited<ReturnType<typeof twoWaiting>>, reason: Error, got: Record<string, unknown>) {
  expect(await line.first).toBe(reason);
  expect(await line.second).toMatchObject({ created: true, ...got });
  expect(heldFor(engine, 'ses_1')).toEqual([]);
  expect(line.pool.stats()).toMatchObject({ inUse: 1, waiting: 0 });
}

describe('a claim whose caller aborts', () => {
  it('leaves the line at once, with the reason it was given; the next claim in line gets the freed container', async () => {
    const engine = new FakeEngine();
    const line = await twoWaiting(engine);
    const reason = new Error('activity cancelled');
    line.cancel.abort(reason);
    expect(line.pool.stats().waiting).toBe(1);
    expect(await line.first).toBe(reason);

    await line.pool.release('ses_0');
    await expectHandedOn(engine, line, reason, { waited: true });
  });

  it('never joins the line when its signal aborted before it came', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 1, maxTotal: 1 });
    await pool.start();
    await until(() => pool.stats().idle === 1);
    const reason = new Error('cancelled before');
    await expect(pool.claim(session(1), AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(heldFor(engine, 'ses_1')).toEqual([]);
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 0, waiting: 0 });
  });

  // However far the freed slot's way to the aborted claim got (handed over in the same tick, its container
  // being created), the cancelled session keeps nothing and the next claim is served.
  for (let ticks = 0; ticks <= 8; ticks++) {
    it(`keeps no cold container when the abort comes ${ticks} ticks after the slot frees`, async () => {
      const engine = new HeldEngine();
      const line = await twoWaiting(engine);
      engine.held.add('create');
      const released = line.pool.release('ses_0');
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      const reason = new Error('activity cancelled');
      line.cancel.abort(reason);
      await released;
      engine.open('create');
      await expectHandedOn(engine, line, reason, { source: 'cold' });
    });
  }

  // The same for a warm container (in wait mode, the refill serves waiting claims): handed over in the same tick, or being marked.
  for (let ticks = 0; ticks <= 12; ticks++) {
    it(`keeps no warm container when the abort comes ${ticks} ticks after one is ready`, async () => {
      const engine = new HeldEngine();
      const line = await twoWaiting(engine, 'wait');
      engine.held.add('create');
      engine.held.add('mark');
      await line.pool.release('ses_0');
      await until(() => line.pool.stats().creating === 1);
      engine.open('create');
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      const reason = new Error('activity cancelled');
      line.cancel.abort(reason);
      engine.open('mark');
      await expectHandedOn(engine, line, reason, { source: 'warm' });
    });
  }

  it('hands on the slot of a container another process won while it was marking it', async () => {
    const engine = new HeldEngine();
    const line = await twoWaiting(engine, 'wait');
    // Past the refill ses_0's warm claim put off (REFILL_DELAY_MS): only the aborted claim's leaving can serve the next one.
    await new Promise((r) => setTimeout(r, 400));
    engine.held.add('mark');
    await line.pool.release('ses_0');
    await until(() => line.pool.stats().waiting === 1 && line.pool.stats().inUse === 1);
    const [taken] = idleNamed(engine);
    if (taken) taken.claimedBy = 'ses_other-process';
    const reason = new Error('activity cancelled');
    line.cancel.abort(reason);
    engine.open('mark');
    await expectHandedOn(engine, line, reason, { source: 'warm' });
  });
});

describe('concurrent claims of one session (one shared claim)', () => {
  it('go on for the callers that did not abort', async () => {
    const engine = new FakeEngine();
    const pool = await fullPool(engine);
    const timedOut = new AbortController();
    const attempt1 = outcome(pool.claim(session(1), timedOut.signal));
    const attempt2 = pool.claim(session(1), new AbortController().signal);
    await until(() => pool.stats().waiting === 1);

    const reason = new Error('attempt 1 timed out');
    timedOut.abort(reason);
    expect(await attempt1).toBe(reason);
    expect(pool.stats().waiting).toBe(1);

    await pool.release('ses_0');
    expect(await attempt2).toMatchObject({ created: true, waited: true });
    expect(heldFor(engine, 'ses_1')).toHaveLength(1);
  });

  it('go on while one caller gave no signal', async () => {
    const engine = new FakeEngine();
    const pool = await fullPool(engine);
    const cancel = new AbortController();
    const withSignal = outcome(pool.claim(session(1), cancel.signal));
    const without = pool.claim(session(1));
    await until(() => pool.stats().waiting === 1);

    cancel.abort(new Error('cancelled'));
    expect(((await withSignal) as Error).message).toBe('cancelled');
    expect(pool.stats().waiting).toBe(1);
    await pool.release('ses_0');
    expect(await without).toMatchObject({ created: true });
  });

  it('leave the line once every caller aborted', async () => {
    const engine = new FakeEngine();
    const line = await twoWaiting(engine);
    const again = new AbortController();
    const second = outcome(line.pool.claim(session(1), again.signal));
    line.cancel.abort(new Error('a'));
    expect(line.pool.stats().waiting).toBe(2);
    const reason = new Error('b');
    again.abort(reason);
    expect(line.pool.stats().waiting).toBe(1);
    expect(((await line.first) as Error).message).toBe('a');
    expect(await second).toBe(reason);

    await line.pool.release('ses_0');
    expect(await line.second).toMatchObject({ created: true });
    expect(heldFor(engine, 'ses_1')).toEqual([]);
  });

  it('a caller coming after all others aborted gets a claim of its own, once the given-up one has cleaned up', async () => {
    const engine = new HeldEngine();
    const pool = await fullPool(engine);
    const timedOut = new AbortController();
    const attempt1 = outcome(pool.claim(session(1), timedOut.signal));
    await until(() => pool.stats().waiting === 1);
    // Its container is being created when the attempt is cancelled; the retry comes before it is destroyed.
    engine.held.add('create');
    await pool.release('ses_0');
    const reason = new Error('attempt 1 timed out');
    timedOut.abort(reason);
    const attempt2 = pool.claim(session(1), new AbortController().signal);
    engine.open('create');

    expect(await attempt1).toBe(reason);
    expect(await attempt2).toMatchObject({ created: true, source: 'cold' });
    expect(heldFor(engine, 'ses_1')).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ inUse: 1, waiting: 0 });
  });
});

/**
 * The order in which waiting claims get containers (sandbox/pool-queue.ts):
 * first come, first served; a claim arriving while others wait queues behind
 * them; a claim that timed out leaves the line without holding up those
 * behind it, and its retry gets its place back; a stopped pool fails its
 * waiting claims.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PoolExhaustedError, type PoolClaim } from '../../sandbox/pool.js';
import { FakeEngine, makePool, session, stopPools, until } from '../support/fake-pool-engine.js';

afterEach(stopPools);

/** Records which claims have settled, in the order they did. */
function track(order: string[], label: string, claim: Promise<PoolClaim>): Promise<PoolClaim> {
  return claim.then(
    (c) => {
      order.push(label);
      return c;
    },
    (err: unknown) => {
      order.push(`${label}!`);
      throw err;
    },
  );
}

describe('waiting claims', () => {
  it('get the container in the order they came, and a claim arriving as one frees queues behind them', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 0, maxTotal: 1, waitTimeoutMs: 10_000 });
    await pool.start();
    await pool.claim(session(0));
    const order: string[] = [];
    const [a, b, c] = [1, 2, 3].map((n) => track(order, `s${n}`, pool.claim(session(n))));
    await until(() => pool.stats().waiting === 3);

    // The holder leaves and, in the same moment, a new session asks: the oldest waiting claim gets it.
    const released = pool.release('ses_0');
    const late = track(order, 's4', pool.claim(session(4)));
    await released;
    await until(() => order.length === 1);
    expect(order).toEqual(['s1']);
    expect(await a).toMatchObject({ waited: true, created: true });

    await pool.release('ses_1');
    await until(() => order.length === 2);
    expect(order).toEqual(['s1', 's2']);

    await pool.release('ses_2');
    await until(() => order.length === 3);
    await pool.release('ses_3');
    await Promise.all([b, c, late]);
    expect(order).toEqual(['s1', 's2', 's3', 's4']);
  });

  it('leave the line when they time out, without holding up those behind; a retry gets its place back', async () => {
    const engine = new FakeEngine();
    const { pool } = makePool(engine, { minIdle: 0, maxTotal: 2, waitTimeoutMs: 1_000 });
    await pool.start();
    await pool.claim(session(0));
    await pool.claim(session(9));
    const order: string[] = [];
    const first = track(order, 's1', pool.claim(session(1)));
    await until(() => pool.stats().waiting === 1);
    // Arrive later, so their deadlines fall later than the first claim's.
    await new Promise((r) => setTimeout(r, 500));
    const second = track(order, 's2', pool.claim(session(2)));
    const third = track(order, 's3', pool.claim(session(3)));
    await expect(first).rejects.toThrow(PoolExhaustedError);
    expect(pool.stats().waiting).toBe(2);

    // The place it keeps for its retry holds nobody up: the next release goes to the next in line.
    await pool.release('ses_9');
    await until(() => order.length === 2);
    expect(order).toEqual(['s1!', 's2']);

    // Its retry (Temporal's) comes back while the third still waits: it is ahead of it again.
    const retried = track(order, 's1', pool.claim(session(1)));
    await until(() => pool.stats().waiting === 2);
    await pool.release('ses_0');
    await until(() => order.length === 3);
    expect(order).toEqual(['s1!', 's2', 's1']);
    expect(await retried).toMatchObject({ waited: true });
    await second;

    // Stopping the pool fails whoever still waits, as a timeout would.
    await pool.stop();
    await expect(third).rejects.toThrow(PoolExhaustedError);
  });
});

/**
 * A burst of one tenant's session starts against the real Postgres (api/limits.ts): the starts of a tenant queue in
 * the API process and hold one pooled connection between them, so another tenant's start is admitted while the
 * burst is still going (before, each start held a connection while it waited for the tenant's lock, and the others
 * waited for the pool behind all of them); a failed admission does not stall the ones after it. And a request that
 * finds the pool exhausted for its whole connect timeout is a 503 with Retry-After, not a 500 (api/errors.ts).
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApiError, onApiError } from '../../api/errors.js';
import { TenantLimiter } from '../../api/limits.js';
import { createDb, type Db } from '../../db/client.js';
import { loadConfig } from '../../config/index.js';

let db: Db;
beforeAll(() => {
  // Two connections, as a busy API's pool of ten is to its bursts.
  db = createDb({ url: inject('services').databaseUrl, poolMax: 2 });
});
afterAll(async () => {
  await db?.destroy();
});

const tenant = (name: string) => `adm-${name}-${randomUUID().slice(0, 8)}`;

describe('a tenant\'s burst of session starts', () => {
  it('holds one connection: another tenant is admitted while the burst still runs', async () => {
    const limiter = new TenantLimiter({ db, config: loadConfig({}) });
    const busy = tenant('burst');
    const other = tenant('other');
    const admitted: string[] = [];
    // Each start's transaction takes 30 ms, as a start's row and outbox do on a loaded database.
    const start = (id: string) =>
      limiter.admitSession(id, 60, async (trx) => {
        await sql`select pg_sleep(0.03)`.execute(trx);
        admitted.push(id);
      });
    const burst = Array.from({ length: 20 }, () => start(busy));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await start(other);
    // Before the queue, the other tenant waited for the pool behind ~18 of the burst's transactions.
    expect(admitted.indexOf(other)).toBeLessThanOrEqual(2);
    await Promise.all(burst);
    expect(admitted.filter((id) => id === busy)).toHaveLength(20);
  });

  it('a refused or failed admission does not stall the ones queued after it', async () => {
    const limiter = new TenantLimiter({ db, config: loadConfig({}) });
    const id = tenant('fail');
    const outcomes = await Promise.allSettled([
      limiter.admitSession(id, 60, async () => {
        throw new Error('the row did not insert');
      }),
      limiter.admitSession(id, 60, async () => {
        throw new ApiError(409, 'conflict', 'taken');
      }),
      limiter.admitSession(id, 60, async (trx) => {
        await sql`select 1`.execute(trx);
      }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });
});

describe('an exhausted pool', () => {
  it('answers 503 database_busy with Retry-After, and logs it, for pg-pool\'s own connect timeout', async () => {
    const pool = new pg.Pool({ connectionString: inject('services').databaseUrl, max: 1, connectionTimeoutMillis: 100 });
    const held = await pool.connect();
    try {
      const logged: unknown[] = [];
      const app = new Hono();
      app.onError(onApiError((err) => logged.push(err)));
      app.get('/x', async () => {
        await pool.query('select 1');
        return new Response('unreachable');
      });
      app.get('/y', () => {
        throw new Error('something else');
      });
      const res = await app.request('/x');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toEqual({ error: { code: 'database_busy', message: 'every database connection is busy; retry shortly' } });
      expect(logged).toHaveLength(1);
      // Any other error stays a 500 that names nothing.
      expect((await app.request('/y')).status).toBe(500);
    } finally {
      held.release();
      await pool.end();
    }
  });
});

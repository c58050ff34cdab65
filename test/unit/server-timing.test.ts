/** Server-Timing (api/server-timing.ts): the stages a route marks, in order, then `total`; parsed back as the bench reads them. */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ApiError, onApiError } from '../../api/errors.js';
import { markStage, parseServerTiming, serverTiming } from '../../api/server-timing.js';

function app(): Hono {
  const a = new Hono();
  a.use('*', serverTiming());
  a.use('*', async (_c, next) => {
    // Middleware time lands in the route's first stage.
    await new Promise((r) => setTimeout(r, 2));
    await next();
  });
  a.onError(onApiError(() => {}));
  a.get('/marked', async (c) => {
    markStage(c, 'auth');
    await new Promise((r) => setTimeout(r, 2));
    markStage(c, 'lookups', 'body, agent; policy');
    return c.json({ ok: true });
  });
  a.get('/failing', (c) => {
    markStage(c, 'auth');
    throw new ApiError(409, 'conflict', 'no');
  });
  a.get('/plain', (c) => c.json({ ok: true }));
  return a;
}

describe('Server-Timing', () => {
  it('sends the marked stages in order, then total, each a duration that adds up to at most the total', async () => {
    const res = await app().request('/marked');
    const header = res.headers.get('server-timing') ?? '';
    expect(header).toMatch(/^auth;dur=[\d.]+, lookups;dur=[\d.]+;desc="body, agent; policy", total;dur=[\d.]+$/);
    const stages = parseServerTiming(header);
    expect(Object.keys(stages)).toEqual(['auth', 'lookups', 'total']);
    for (const ms of Object.values(stages)) expect(ms).toBeGreaterThan(0);
    // Rounded to 0.1 ms each: the sum may pass the total by their rounding only.
    expect((stages.auth ?? 0) + (stages.lookups ?? 0)).toBeLessThanOrEqual((stages.total ?? 0) + 0.1);
  });

  it('is sent on an error answer too, and not at all for a route that marks nothing', async () => {
    const failed = await app().request('/failing');
    expect(failed.status).toBe(409);
    expect(Object.keys(parseServerTiming(failed.headers.get('server-timing')))).toEqual(['auth', 'total']);
    const plain = await app().request('/plain');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('server-timing')).toBeNull();
  });

  it('parses values of other servers: quoted descriptions, entries without a duration, spaces', () => {
    expect(parseServerTiming('cache;desc="hit, warm";dur=0.3 , db ;dur=12,  miss, cpu;dur=bad, app;desc=x;dur=7')).toEqual({ cache: 0.3, db: 12, app: 7 });
    expect(parseServerTiming(null)).toEqual({});
    expect(parseServerTiming('')).toEqual({});
  });
});

/** api/web.ts: the built console from the API's origin, under a strict CSP, with the SPA's fallback. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, webRoutes } from '../../api/web.js';

function builtConsole(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kortix-web-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/index-abc.js"></script>');
  writeFileSync(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  return dir;
}

function app(dir: string): Hono {
  const a = new Hono();
  a.get('/v1/ping', (c) => c.json({ pong: true }));
  a.route('/', webRoutes(dir) as Hono);
  a.notFound((c) => c.json({ error: { code: 'not_found' } }, 404));
  return a;
}

describe('webRoutes', () => {
  it('is absent when the console is not built', () => {
    expect(webRoutes(mkdtempSync(join(tmpdir(), 'kortix-noweb-')))).toBeUndefined();
  });

  it('answers console paths with index.html under a CSP that allows no inline script', async () => {
    const res = await app(builtConsole()).request('/sessions/ses_12345678');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('/assets/index-abc.js');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(CONTENT_SECURITY_POLICY);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
  });

  it('serves hashed assets for good, 404s a missing one, and leaves /v1 to the API', async () => {
    const a = app(builtConsole());
    const js = await a.request('/assets/index-abc.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect((await a.request('/assets/index-old.js')).status).toBe(404);
    expect(await (await a.request('/v1/ping')).json()).toEqual({ pong: true });
    const unknown = await a.request('/v1/nothing');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 'not_found' } });
  });

  it('passes /v1 on to API routes mounted after it', async () => {
    const a = new Hono();
    a.route('/', webRoutes(builtConsole()) as Hono);
    a.route('/v1/agents', new Hono().get('/', (c) => c.json({ agents: [] })));
    const res = await a.request('/v1/agents');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agents: [] });
  });
});

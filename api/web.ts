/**
 * The web console (web/, built by Vite into web/dist) served by the API: one
 * origin, so the console calls /v1 with no CORS. Every page gets a strict
 * Content-Security-Policy: scripts, styles and connections from this origin
 * only, nothing inline, no framing. Hashed assets are cached for good; any
 * other GET outside /v1 answers index.html (the console routes in the browser).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { Hono } from 'hono';
import { REPO_ROOT } from '../config/index.js';

export const WEB_DIST_DIR = join(REPO_ROOT, 'web', 'dist');

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly type: string;
}

function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else assets.set(`/${relative(dir, path).split('\\').join('/')}`, { body: new Uint8Array(readFileSync(path)), type: TYPES[extname(name)] ?? 'application/octet-stream' });
    }
  };
  walk(dir);
  return assets;
}

/** The console's routes, or undefined when it is not built (`npm run web:build`). Read once: the build is immutable. */
export function webRoutes(dir = WEB_DIST_DIR): Hono | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const assets = readAssets(dir);
  const index = assets.get('/index.html') as Asset;
  const security = {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
  const app = new Hono();
  app.get('*', (c, next) => {
    const path = c.req.path;
    if (path === '/v1' || path.startsWith('/v1/')) return next();
    const asset = assets.get(path);
    if (asset && path !== '/index.html') {
      const immutable = path.startsWith('/assets/');
      return c.body(asset.body, 200, { ...security, 'content-type': asset.type, 'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' });
    }
    // A missing file under /assets is a 404, not the page (a stale tab asking for an old chunk).
    if (path.startsWith('/assets/') || extname(path) !== '') return c.notFound();
    return c.body(index.body, 200, { ...security, 'content-type': index.type, 'cache-control': 'no-cache' });
  });
  return app;
}

/** `/healthz`, `/readyz` and `/metrics` for a process without its own HTTP API (the worker). */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { ReadinessChecker } from './health.js';

export function createHealthApp(options: { readiness: ReadinessChecker; registry?: Registry | undefined; draining?: () => boolean }): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const report = await options.readiness.check();
    const draining = options.draining?.() ?? false;
    return c.json({ ...report, ready: report.ready && !draining, draining }, report.ready && !draining ? 200 : 503);
  });
  if (options.registry) {
    const registry = options.registry;
    app.get('/metrics', async (c) => c.text(await registry.metrics(), 200, { 'content-type': registry.contentType }));
  }
  return app;
}

/** Listens on host:port (port 0 picks one); resolves with the bound port. */
export function listen(app: Hono, host: string, port: number): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => resolve({ server, port: info.port }));
  });
}

/**
 * Stops accepting connections and resolves when open requests are done;
 * after `graceMs` the remaining ones (SSE streams) are cut.
 */
export function closeServer(server: ServerType, graceMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const http = server as ServerType & { closeIdleConnections?: () => void; closeAllConnections?: () => void };
    const timer = setTimeout(() => http.closeAllConnections?.(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    http.closeIdleConnections?.();
  });
}

/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, spans leave the process over OTLP/HTTP
 * to that collector (Jaeger in the compose files): here a local receiver
 * that records what arrives.
 */
import { createServer, type Server } from 'node:http';
import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { startTracing, tracer } from '../../observability/tracing.js';

let server: Server | undefined;
afterAll(async () => {
  trace.disable();
  context.disable();
  propagation.disable();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

describe('OTLP export', () => {
  it('sends spans, with the service name, to the configured endpoint', async () => {
    const received: { path: string; contentType: string; body: string }[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as { port: number };

    const tracing = startTracing({ service: 'kortix-otlp-test', endpoint: `http://127.0.0.1:${port}` });
    expect(tracing).toBeDefined();
    tracer().startActiveSpan('a span to export', (span) => {
      span.setAttribute('kortix.session', 'ses_otlp');
      span.end();
    });
    await tracing?.shutdown(); // flushes the batch

    expect(received.length).toBeGreaterThan(0);
    expect(received[0]?.path).toBe('/v1/traces');
    const all = received.map((r) => r.body).join('\n');
    expect(all).toContain('kortix-otlp-test');
    expect(all).toContain('a span to export');
    expect(all).toContain('ses_otlp');
  });

  it('is off without an endpoint or a processor', () => {
    expect(startTracing({ service: 'nothing' })).toBeUndefined();
  });
});

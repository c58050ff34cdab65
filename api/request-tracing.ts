/**
 * One server span per HTTP request (the root of a session's trace when the
 * request starts one), continuing an incoming `traceparent`, and one JSON log
 * line per request with its trace id, tenant and session.
 */
import { context, propagation, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../observability/logger.js';
import { tracer } from '../observability/tracing.js';

export function requestTracing(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const parent = propagation.extract(context.active(), Object.fromEntries(c.req.raw.headers));
    await tracer().startActiveSpan(`${c.req.method}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path } }, parent, async (span) => {
      try {
        await next();
      } finally {
        const route = c.req.routePath && c.req.routePath !== '/*' ? c.req.routePath : 'unmatched';
        const principal = c.get('principal') as { tenantId?: string; principal?: string } | undefined;
        const sessionId = c.req.param('id') ?? c.res.headers.get('location')?.split('/').pop();
        span.updateName(`${c.req.method} ${route}`);
        span.setAttributes({
          'http.route': route,
          'http.response.status_code': c.res.status,
          ...(principal?.tenantId ? { 'kortix.tenant': principal.tenantId } : {}),
          ...(sessionId?.startsWith('ses_') ? { 'kortix.session': sessionId } : {}),
        });
        if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        logger.info('request', {
          method: c.req.method,
          route,
          status: c.res.status,
          ms: Math.round(performance.now() - started),
          ...(principal?.tenantId ? { tenant: principal.tenantId } : {}),
          ...(sessionId?.startsWith('ses_') ? { session: sessionId } : {}),
        });
        span.end();
      }
    });
  };
}

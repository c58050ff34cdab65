/**
 * Tracing with OpenTelemetry: one session is one trace, from the HTTP request
 * through the workflow start, the workflow's tasks and every activity (model
 * call, sandbox exec, Slack post). The NodeSDK owns the global provider and
 * the async context; spans go to OTLP (Jaeger in the compose files) when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, or to a processor a test passes.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

export const TRACER_NAME = 'kortix';

/** The tracer our own spans use (HTTP requests, attributes on activity spans). */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

export interface Tracing {
  readonly resource: Resource;
  readonly spanProcessor: SpanProcessor;
  shutdown(): Promise<void>;
}

/**
 * Starts the SDK for a process; undefined (tracing off) without an endpoint
 * or a processor. Call once, before creating clients and workers.
 */
export function startTracing(options: { service: string; endpoint?: string | undefined; spanProcessor?: SpanProcessor }): Tracing | undefined {
  const spanProcessor =
    options.spanProcessor ??
    (options.endpoint ? new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/$/, '')}/v1/traces` })) : undefined);
  if (!spanProcessor) return undefined;
  const resource = new Resource({ [ATTR_SERVICE_NAME]: options.service });
  const sdk = new NodeSDK({ resource, spanProcessors: [spanProcessor], instrumentations: [] });
  sdk.start();
  return { resource, spanProcessor, shutdown: () => sdk.shutdown() };
}


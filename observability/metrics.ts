/**
 * Prometheus metrics, names defined once. Each process (API, worker) builds
 * one registry; label sets are bounded (route templates, never raw paths).
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_NAMES = {
  httpRequestsTotal: 'http_requests_total',
  httpRequestLatency: 'http_request_latency_seconds',
  llmLatency: 'llm_latency_seconds',
  containerStartTime: 'container_start_time_seconds',
  failedTasksTotal: 'failed_tasks_total',
} as const;

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpLatency: Histogram<'route'>;
  readonly llmLatency: Histogram<'provider' | 'model'>;
  readonly containerStart: Histogram;
  readonly failedTasks: Counter<'kind'>;
}

export function createMetrics(options: { service: string; defaultMetrics?: boolean }): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: METRIC_NAMES.httpRequestsTotal,
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpLatency: new Histogram({
      name: METRIC_NAMES.httpRequestLatency,
      help: 'HTTP request latency by route template',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    llmLatency: new Histogram({
      name: METRIC_NAMES.llmLatency,
      help: 'Model call latency by provider and model',
      labelNames: ['provider', 'model'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60],
      registers: [registry],
    }),
    containerStart: new Histogram({
      name: METRIC_NAMES.containerStartTime,
      help: 'Time to create and start a sandbox container',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5],
      registers: [registry],
    }),
    failedTasks: new Counter({
      name: METRIC_NAMES.failedTasksTotal,
      help: 'Activities that failed, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

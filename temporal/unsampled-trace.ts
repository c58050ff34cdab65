/**
 * A trace context that says "not sampled", for what a client sends to a workflow when its process traces nothing.
 *
 * Temporal's OpenTelemetry client interceptor passes the caller's trace to the workflow in a header; with tracing off
 * (no OpenTelemetry SDK, observability/tracing.ts) it sends an empty one. The workflow's interceptors then start a
 * trace of their own: every workflow task created, ended and exported spans through the worker's sink to a no-op
 * processor, 14 % of a busy workflow thread's CPU at 200 sessions (README, Numbers: "On the CPU at 200 × 20").
 * This interceptor, after Temporal's, gives each call whose header carries no trace a W3C trace context with the
 * sampled flag off: the workflow's tracer (parent-based sampling, OpenTelemetry's default) then makes spans that
 * record nothing, and the activities and child runs it starts inherit that. The interceptors' awaits are the same
 * either way, so a workflow's commands are too; a replay reads the header its history recorded.
 *
 * With tracing on, Temporal's interceptor always sends the caller's context (a sampled one), and this adds nothing.
 */
import { randomBytes } from 'node:crypto';
import type {
  Next,
  WorkflowClientInterceptor,
  WorkflowQueryInput,
  WorkflowSignalInput,
  WorkflowSignalWithStartInput,
  WorkflowStartInput,
  WorkflowStartOutput,
  WorkflowStartUpdateInput,
  WorkflowStartUpdateOutput,
  WorkflowStartUpdateWithStartInput,
  WorkflowStartUpdateWithStartOutput,
} from '@temporalio/client';
import { defaultPayloadConverter, type Headers } from '@temporalio/common';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';

/** A W3C `traceparent` of a new trace, not sampled (flags 00): random ids, which W3C requires to be non-zero. */
export function unsampledTraceparent(): string {
  const id = (bytes: number) => {
    const raw = randomBytes(bytes);
    raw.writeUInt8(raw.readUInt8(bytes - 1) | 1, bytes - 1);
    return raw.toString('hex');
  };
  return `00-${id(16)}-${id(8)}-00`;
}

/** Whether a trace header carries a trace: without a propagator Temporal's interceptor sends an empty carrier (`{}`). */
function carriesTrace(header: Headers[string] | undefined): boolean {
  if (!header) return false;
  try {
    const carrier = defaultPayloadConverter.fromPayload<Record<string, unknown> | null>(header);
    return typeof carrier?.traceparent === 'string';
  } catch {
    // Not ours to judge: a header some other propagator wrote stays as it is.
    return true;
  }
}

/** The headers with an unsampled trace context where they carry no trace. */
export function withUnsampledTrace(headers: Headers): Headers {
  if (carriesTrace(headers[TRACE_HEADER])) return headers;
  return { ...headers, [TRACE_HEADER]: defaultPayloadConverter.toPayload({ traceparent: unsampledTraceparent() }) };
}

/** Every client call whose headers reach the workflow: starts, signals, Updates and queries. */
export class UnsampledTraceClientInterceptor implements WorkflowClientInterceptor {
  start(input: WorkflowStartInput, next: Next<WorkflowClientInterceptor, 'start'>): Promise<string> {
    return next({ ...input, headers: withUnsampledTrace(input.headers) });
  }

  startWithDetails(input: WorkflowStartInput, next: Next<WorkflowClientInterceptor, 'startWithDetails'>): Promise<WorkflowStartOutput> {
    return next({ ...input, headers: withUnsampledTrace(input.headers) });
  }

  signal(input: WorkflowSignalInput, next: Next<WorkflowClientInterceptor, 'signal'>): Promise<void> {
    return next({ ...input, headers: withUnsampledTrace(input.headers) });
  }

  signalWithStart(input: WorkflowSignalWithStartInput, next: Next<WorkflowClientInterceptor, 'signalWithStart'>): Promise<string> {
    return next({ ...input, headers: withUnsampledTrace(input.headers) });
  }

  startUpdate(input: WorkflowStartUpdateInput, next: Next<WorkflowClientInterceptor, 'startUpdate'>): Promise<WorkflowStartUpdateOutput> {
    return next({ ...input, headers: withUnsampledTrace(input.headers) });
  }

  startUpdateWithStart(
    input: WorkflowStartUpdateWithStartInput,
    next: Next<WorkflowClientInterceptor, 'startUpdateWithStart'>,
  ): Promise<WorkflowStartUpdateWithStartOutput> {
    return next({ ...input, workflowStartHeaders: withUnsampledTrace(input.workflowStartHeaders), updateHeaders: withUnsampledTrace(input.updateHeaders) });
  }

  query(input: WorkflowQueryInput, next: Next<WorkflowClientInterceptor, 'query'>): Promise<unknown> {
    return next({ ...input, headers: withUnsampledTrace(input.headers) });
  }
}

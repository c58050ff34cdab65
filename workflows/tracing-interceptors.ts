/**
 * The workflow interceptors of every worker and every replay: Temporal's
 * OpenTelemetry interceptors, with two changes that keep Update-approved
 * sessions replayable.
 *
 * The defect (issue 10; test/histories/evidence/walkthrough-update-approved.json):
 * the package traces an Update handler only when the SDK flag
 * `OpenTelemetryInterceptorsInstrumentsAllMethods` (6) is on. A live worker
 * always has it on, and records it in the history the first time it asks.
 * But its *query* handler asks too, and a query's activation is not a
 * workflow task: when a session is queried (GET /v1/sessions/:id) before
 * its first vote, the flag is marked used there and is never written to the
 * history. A replay then sees the flag off, runs the Update handler without
 * the span's awaits, the Update completes a few microtasks earlier than it did
 * live, its completion command moves ahead of the gate's TimerCanceled, and
 * the replay fails with `[TMPRL1100] Update machine does not handle this event`.
 *
 * 1. Queries no longer consult the flag (a query emits no command, so tracing
 *    it unconditionally changes no history): the first Update's validator or
 *    handler asks in a real workflow task, and the flag is written.
 * 2. An Update is traced when the flag is on, or when the history shows the
 *    OpenTelemetry interceptors ran live (flag 5, which their `execute` asks
 *    in the first task) — a live worker of those versions traced every
 *    Update, whether or not the flag reached the history. Histories from
 *    before the interceptors (test/histories/foundation/) have neither and
 *    replay untraced, as they ran.
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
  SPAN_DELIMITER,
  SpanName,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import { extractContextFromHeaders, instrument, UPDATE_ID_ATTR_KEY } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import type { Next, QueryInput, UpdateInput, WorkflowInboundCallsInterceptor, WorkflowInterceptors } from '@temporalio/workflow';
import { SdkFlags } from '@temporalio/workflow/lib/flags.js';
import { getActivator } from '@temporalio/workflow/lib/global-attributes.js';

/** Whether this workflow task traced Update handlers when it ran live. */
function updatesWereTraced(): boolean {
  const activator = getActivator();
  if (activator.hasFlag(SdkFlags.OpenTelemetryInterceptorsInstrumentsAllMethods)) return true;
  // `knownFlags` holds the flags the history recorded (private in the SDK's types; replay-tested).
  const known = (activator as unknown as { knownFlags: ReadonlySet<number> }).knownFlags;
  return known.has(SdkFlags.OpenTelemetryInterceporsAvoidsExtraYields.id);
}

class ReplaySafeInboundInterceptor extends OpenTelemetryInboundInterceptor {
  override async handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    if (!updatesWereTraced()) return next(input);
    return await instrument({
      tracer: this.tracer,
      spanName: `${SpanName.WORKFLOW_HANDLE_UPDATE}${SPAN_DELIMITER}${input.name}`,
      fn: (span) => {
        span.setAttribute(UPDATE_ID_ATTR_KEY, input.updateId);
        return next(input);
      },
      context: extractContextFromHeaders(input.headers),
    });
  }

  override async handleQuery(input: QueryInput, next: Next<WorkflowInboundCallsInterceptor, 'handleQuery'>): Promise<unknown> {
    return await instrument({
      tracer: this.tracer,
      spanName: `${SpanName.WORKFLOW_HANDLE_QUERY}${SPAN_DELIMITER}${input.queryName}`,
      fn: () => next(input),
      context: extractContextFromHeaders(input.headers),
    });
  }
}

export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new ReplaySafeInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});

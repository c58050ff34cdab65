/**
 * Puts the session and the tenant on every log line an activity writes
 * (Context.current().log, and the SDK's own activity lines), read from the
 * activity's input: each of our activities takes `{ session: SessionRef, ... }`.
 */
import type { Context } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, ActivityInterceptors, ActivityOutboundCallsInterceptor } from '@temporalio/worker';

interface SessionFields {
  session?: string;
  tenant?: string;
}

function sessionOf(args: readonly unknown[]): SessionFields {
  const first = args[0] as { session?: { sessionId?: unknown; tenantId?: unknown } } | undefined;
  const s = first?.session;
  return {
    ...(typeof s?.sessionId === 'string' ? { session: s.sessionId } : {}),
    ...(typeof s?.tenantId === 'string' ? { tenant: s.tenantId } : {}),
  };
}

/** The activity interceptors factory (one pair per activity execution). */
export function sessionLogInterceptors(_ctx: Context): ActivityInterceptors {
  let fields: SessionFields = {};
  const inbound: ActivityInboundCallsInterceptor = {
    execute: (input, next) => {
      fields = sessionOf(input.args);
      return next(input);
    },
  };
  const outbound: ActivityOutboundCallsInterceptor = {
    getLogAttributes: (input, next) => next({ ...input, ...fields }),
  };
  return { inbound, outbound };
}

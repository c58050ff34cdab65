/**
 * `GET /v1/sessions/:id/events`: the session's events as Server-Sent Events,
 * from `session_events`, woken by LISTEN/NOTIFY; `Last-Event-ID` (or
 * `?after=`) resumes. Each open stream counts toward the tenant's stream
 * limit until it closes.
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { TERMINAL_EVENT } from '../../domain/events.js';
import type { Db } from '../../db/client.js';
import { readEvents } from '../../db/session-records.js';
import { getSessionRow } from '../../db/sessions-query.js';
import { refuseArchived } from '../archived.js';
import { ApiError } from '../errors.js';
import type { EventNotifier } from '../event-notifier.js';
import type { TenantLimiter } from '../limits.js';
import { z } from 'zod';
import type { RouteDoc } from '../openapi.js';
import { parseParams } from '../validation.js';
import { sessionIdParams } from './sessions.js';


export interface EventRoutesDeps {
  readonly db: Db;
  readonly notifier: EventNotifier;
  readonly limiter: TenantLimiter;
}

export function eventRoutes(deps: EventRoutesDeps): Hono {
  const { db } = deps;
  const app = new Hono();
  app.get('/:id/events', async (c) => {
    const { tenantId } = c.get('principal');
    const { id } = parseParams(c, sessionIdParams);
    const session = await getSessionRow(db, tenantId, id);
    if (!session) throw new ApiError(404, 'session_not_found', `no session ${id}`);
    await refuseArchived(db, session.created_at);
    const from = c.req.header('last-event-id') ?? c.req.query('after') ?? '0';
    if (!/^\d{1,9}$/.test(from)) {
      throw new ApiError(400, 'validation_failed', 'Last-Event-ID must be an event id', [{ path: 'header.last-event-id', message: 'a number' }]);
    }
    let last = Number(from);
    const release = await deps.limiter.openStream(tenantId);
    return streamSSE(c, async (stream) => {
      const subscription = deps.notifier.subscribe(id);
      stream.onAbort(() => {
        subscription.close();
        release();
      });
      let ended = false;
      try {
        while (!stream.aborted) {
          const rows = await readEvents(db, tenantId, id, session.created_at, last);
          for (const row of rows) {
            await stream.writeSSE({
              id: String(row.seq),
              event: row.type,
              data: JSON.stringify({ seq: row.seq, type: row.type, at: row.created_at.toISOString(), data: row.data }),
            });
            last = row.seq;
            if (row.type === TERMINAL_EVENT) return;
          }
          if (rows.length > 0) continue;
          // Ended with nothing left to send (a client resuming after the last event).
          if (ended) return;
          const current = await getSessionRow(db, tenantId, id);
          if (current?.ended_at) {
            ended = true;
            continue;
          }
          await subscription.wait(deps.notifier.connected ? 15_000 : 1_000);
          if (!stream.aborted) await stream.write(': keepalive\n\n');
        }
      } finally {
        subscription.close();
        release();
      }
    });
  });
  return app;
}

export const eventRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/v1/sessions/:id/events',
    operationId: 'streamSessionEvents',
    summary: 'The session’s events as Server-Sent Events; Last-Event-ID or ?after= resumes',
    tag: 'sessions',
    params: sessionIdParams,
    query: z.object({ after: z.string().regex(/^\d+$/).optional().describe('resume after this event id (as Last-Event-ID)') }),
    responses: {
      200: { description: 'an SSE stream (event: <type>, id: <seq>, data: JSON)', schema: z.string(), contentType: 'text/event-stream' },
      404: { description: 'session_not_found' },
      410: { description: 'archived: the events of the session’s month are in cold storage (restore: npm run kortix -- archive restore <YYYY-MM>)' },
    },
  },
];

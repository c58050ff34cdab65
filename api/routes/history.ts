/**
 * `GET /v1/sessions/:id/history`: the session's Temporal history one page at
 * a time (`?limit=&pageToken=&runId=`), as `{events, nextPageToken}`. A page is
 * one GetWorkflowExecutionHistory call: the API holds about `limit` events of
 * a history (plus the rest of Temporal's last batch), however long it is.
 */
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Env } from '../../config/index.js';
import type { Db } from '../../db/client.js';
import { decryptPayload, isEncrypted, type TenantPayloadCodec } from '../../temporal/codec/payload-codec.js';
import { getSessionRow } from '../../db/sessions-query.js';
import { ApiError } from '../errors.js';
import type { SessionStarter } from '../session-starter.js';
import type { RouteDoc } from '../openapi.js';
import { parseParams, parseQuery } from '../validation.js';
import { sessionIdParams } from './sessions.js';

/** Temporal's own largest page. */
export const HISTORY_MAX_PAGE = 1_000;

const query = z
  .object({
    limit: z.coerce.number().int().min(1).max(HISTORY_MAX_PAGE).default(HISTORY_MAX_PAGE),
    pageToken: z
      .string()
      .max(8_192)
      .regex(/^[A-Za-z0-9_-]+$/, 'a nextPageToken of a previous page')
      .optional(),
    runId: z.uuid().optional(),
  })
  .strict();

export interface HistoryRoutesDeps {
  readonly config: Pick<Env, 'TEMPORAL_NAMESPACE'>;
  readonly db: Db;
  readonly temporal: Client;
  /** Decrypts the payloads the caller's tenant keys open: the export is the tenant's own history, readable and replayable. */
  readonly codec: TenantPayloadCodec;
  /** Makes a start still to be made before the history is read (without it, such a session has none yet: 404). */
  readonly starter?: Pick<SessionStarter, 'ensureStarted'> | undefined;
}

type PayloadLike = Parameters<typeof isEncrypted>[0];

/**
 * Replaces, in place, every encrypted payload of the events that this tenant's keys open by its plaintext
 * (as the codec endpoint would for this operator); another tenant's or an unknown key's payload stays encrypted.
 */
function decryptEvents(node: unknown, codec: TenantPayloadCodec, tenantId: string, depth = 0): void {
  if (depth > 64 || node === null || typeof node !== 'object' || ArrayBuffer.isView(node)) return;
  const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
  for (const [key, value] of entries) {
    if (value !== null && typeof value === 'object' && 'metadata' in value && isEncrypted(value as PayloadLike)) {
      try {
        (node as Record<string | number, unknown>)[key] = decryptPayload(value as PayloadLike, codec.keyring, tenantId);
      } catch {
        // Left encrypted: the tenant's keys do not open it (removed key, another tenant's key).
      }
    } else {
      decryptEvents(value, codec, tenantId, depth + 1);
    }
  }
}

/**
 * The API's page token: Temporal's token of the page being served and how many of its events were
 * served already. Temporal pages by stored batches, so one of its pages can hold more events than
 * asked for; the API cuts it to `limit` and resumes inside it.
 */
interface Cursor {
  readonly t: string | null;
  readonly o: number;
}

const cursorSchema = z.object({ t: z.string().regex(/^[A-Za-z0-9_-]*$/).nullable(), o: z.number().int().min(0).max(100_000) }).strict();

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(token: string | undefined): Cursor {
  if (token === undefined) return { t: null, o: 0 };
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw new ApiError(400, 'validation_failed', 'invalid pageToken', [{ path: 'query.pageToken', message: 'not a nextPageToken of this history' }]);
  }
}

export function historyRoutes(deps: HistoryRoutesDeps): Hono {
  const app = new Hono();
  app.get('/:id/history', async (c) => {
    const { tenantId } = c.get('principal');
    const { id } = parseParams(c, sessionIdParams);
    if (!(await getSessionRow(deps.db, tenantId, id))) throw new ApiError(404, 'session_not_found', `no session ${id}`);
    const q = parseQuery(c, query);
    const cursor = decodeCursor(q.pageToken);
    // The workflow id is the caller's own session: a token can only page through one of its runs.
    const fetchPage = () =>
      deps.temporal.workflowService.getWorkflowExecutionHistory({
        namespace: deps.config.TEMPORAL_NAMESPACE,
        execution: { workflowId: id, ...(q.runId ? { runId: q.runId } : {}) },
        maximumPageSize: q.limit,
        ...(cursor.t ? { nextPageToken: Buffer.from(cursor.t, 'base64url') } : {}),
      });
    const page = await fetchPage()
      .catch(async (err: unknown) => {
        // NOT_FOUND of a session whose workflow start is still to be made (api/session-starter.ts): made now.
        if ((err as { code?: number }).code !== 5 || q.runId || !deps.starter) throw err;
        // `none`: no start left to make, though one may have gone through since the first read: read again.
        const outcome = await deps.starter.ensureStarted(tenantId, id);
        if (outcome === 'started' || outcome === 'none') return fetchPage();
        throw err;
      })
      .catch((err: unknown) => {
        const code = (err as { code?: number }).code;
        // gRPC INVALID_ARGUMENT (3): a token Temporal did not issue for this history; NOT_FOUND (5): no such run.
        if (code === 3) throw new ApiError(400, 'validation_failed', 'invalid pageToken', [{ path: 'query.pageToken', message: 'not a nextPageToken of this history' }]);
        if (code === 5) throw new ApiError(404, 'history_not_found', `no history for ${id}${q.runId ? ` run ${q.runId}` : ''}`);
        throw err;
      });
    const rest = (page.history?.events ?? []).slice(cursor.o);
    let next: Cursor | null;
    if (rest.length > q.limit) next = { t: cursor.t, o: cursor.o + q.limit };
    else next = page.nextPageToken && page.nextPageToken.length > 0 ? { t: Buffer.from(page.nextPageToken).toString('base64url'), o: 0 } : null;
    const served = rest.slice(0, q.limit);
    decryptEvents(served, deps.codec, tenantId);
    const events = (JSON.parse(historyToJSON({ events: served })) as { events?: unknown[] }).events ?? [];
    return c.json({ events, nextPageToken: next ? encodeCursor(next) : null });
  });
  return app;
}

export const historyRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/v1/sessions/:id/history',
    operationId: 'getSessionHistory',
    summary: 'The Temporal history of a session, paged',
    tag: 'sessions',
    params: sessionIdParams,
    query,
    responses: { 200: { description: 'a page of history events', schema: z.object({ events: z.array(z.record(z.string(), z.unknown())), nextPageToken: z.string().nullable() }) }, 404: { description: 'session_not_found | history_not_found' } },
  },
];

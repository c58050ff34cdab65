/**
 * Replay checks: does the current workflow code replay a history
 * deterministically? `GET /v1/sessions/:id/replay-check` replays the session's
 * own history (every run of it, fetched from Temporal);
 * `POST /v1/replay-check` replays an uploaded history JSON (as the Web UI or
 * `temporal workflow show --output json` exports it). Nothing runs: the SDK
 * replays the recorded commands against the code (temporal/replay.ts).
 */
import type { Client } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Env } from '../../config/index.js';
import type { Db } from '../../db/client.js';
import { getSessionRow } from '../../db/sessions-query.js';
import { replayHistories, type ReplayOutcome } from '../../temporal/replay.js';
import { loadWorkflowBundle, type WorkflowBundle } from '../../temporal/worker-options.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { parseBody, parseParams } from '../validation.js';
import { sessionIdParams } from './sessions.js';

const uploadSchema = z
  .object({
    workflowId: z.string().min(1).max(200).default('uploaded'),
    history: z.object({ events: z.array(z.record(z.string(), z.unknown())).min(1).max(100_000) }).loose(),
  })
  .strict();

export interface ReplayRoutesDeps {
  readonly config: Pick<Env, 'WORKFLOW_BUNDLE_PATH'>;
  readonly db: Db;
  readonly temporal: Client;
}

/** What the console shows: deterministic, or where it diverges. */
export interface ReplayVerdict {
  deterministic: boolean;
  nondeterministic: boolean;
  error: string | null;
  /** The history event id named in the divergence message, when the SDK names one. */
  divergesAtEventId: number | null;
  events: number;
}

function verdict(outcome: ReplayOutcome | undefined, events: number): ReplayVerdict {
  const error = outcome?.error ?? (outcome ? null : 'the replayer returned no result');
  const at = error ? /event(?:Id| id)?[^0-9]{0,12}(\d+)/i.exec(error)?.[1] : undefined;
  return { deterministic: outcome?.ok ?? false, nondeterministic: outcome?.nondeterministic ?? false, error, divergesAtEventId: at ? Number(at) : null, events };
}

/** Mounted at /v1. The bundle is built (or read from WORKFLOW_BUNDLE_PATH) at the first check, once. */
export function replayRoutes(deps: ReplayRoutesDeps) {
  let bundle: Promise<WorkflowBundle> | undefined;
  const currentBundle = () => {
    bundle ??= loadWorkflowBundle({ bundlePath: deps.config.WORKFLOW_BUNDLE_PATH }).catch((err: unknown) => {
      bundle = undefined;
      throw err;
    });
    return bundle;
  };

  return new Hono()
    .get('/sessions/:id/replay-check', async (c) => {
      const { tenantId } = c.get('principal');
      const { id } = parseParams(c, sessionIdParams);
      const session = await getSessionRow(deps.db, tenantId, id);
      if (!session) throw new ApiError(404, 'session_not_found', `no session ${id}`);
      if (!session.ended_at) throw new ApiError(409, 'session_running', 'replay checks a finished session; this one is still running');
      // Every run of the session (continue-as-new starts a new one), oldest first; the verdict is the first failing run's.
      const runs: { runId: string; startTime: Date }[] = [];
      for await (const run of deps.temporal.workflow.list({ query: `WorkflowId = '${id}'` })) runs.push({ runId: run.runId, startTime: run.startTime });
      runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
      const histories = await Promise.all(
        runs.map(async (run, i) => ({ name: `${id} run ${i + 1}`, workflowId: id, history: await deps.temporal.workflow.getHandle(id, run.runId).fetchHistory() })),
      );
      if (histories.length === 0) throw new ApiError(404, 'history_not_found', `no history for ${id}`);
      // Large payloads are references in the history (temporal/payload-storage.ts): read them as the API's client does.
      // (An uploaded history below gets no store: its references could name any object.)
      const outcomes = await replayHistories(histories, await currentBundle(), undefined, deps.temporal.options.loadedDataConverter.externalStorage);
      const events = histories.reduce((n, h) => n + (h.history.events?.length ?? 0), 0);
      return c.json({ sessionId: id, runs: histories.length, ...verdict(outcomes.find((o) => !o.ok) ?? outcomes[0], events) });
    })
    .post('/replay-check', async (c) => {
      const body = await parseBody(c, uploadSchema);
      let history;
      try {
        history = historyFromJSON(body.history);
      } catch (err) {
        throw new ApiError(400, 'validation_failed', `not a Temporal history: ${(err as Error).message}`, [{ path: 'body.history', message: 'a history as Temporal exports it' }]);
      }
      const [outcome] = await replayHistories([{ name: body.workflowId, workflowId: body.workflowId, history }], await currentBundle());
      return c.json({ sessionId: null, runs: 1, ...verdict(outcome, history.events?.length ?? 0) });
    });
}

export type ReplayRoutes = ReturnType<typeof replayRoutes>;

const verdictSchema = z.object({ sessionId: z.string().nullable(), runs: z.number().int(), deterministic: z.boolean(), nondeterministic: z.boolean(), error: z.string().nullable(), divergesAtEventId: z.number().int().nullable(), events: z.number().int() });

/** For the OpenAPI document (api/api-document.ts). */
export const replayRouteDocs: readonly RouteDoc[] = [
  { method: 'get', path: '/v1/sessions/:id/replay-check', operationId: 'replayCheckSession', summary: 'Replay a finished session’s history against the current workflow code', tag: 'replay', params: sessionIdParams, responses: { 200: { description: 'the verdict', schema: verdictSchema }, 404: { description: 'session_not_found | history_not_found' }, 409: { description: 'session_running' } } },
  { method: 'post', path: '/v1/replay-check', operationId: 'replayCheckUpload', summary: 'Replay an uploaded history (Temporal JSON export)', tag: 'replay', body: uploadSchema, responses: { 200: { description: 'the verdict', schema: verdictSchema } } },
];

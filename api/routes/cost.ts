/**
 * Cost, read from the `llm_calls` ledger for the caller's tenant:
 * `GET /v1/sessions/:id/llm-calls` (each model call of one session, with the
 * total) and `GET /v1/cost?groupBy=day|agent|model&from=&to=` (spend over a
 * period, plus the tenant's budgets and what is left of them today and this
 * month).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { Env } from '../../config/index.js';
import type { Db } from '../../db/client.js';
import { COST_GROUPS, costByGroup } from '../../db/cost.js';
import { ledgerRows } from '../../db/llm-ledger.js';
import { tenantSpend } from '../../db/llm-budgets.js';
import { getSessionRow } from '../../db/sessions-query.js';
import { ModelPolicyStore, type PolicySource } from '../../router/policy-store.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { parseParams, parseQuery } from '../validation.js';
import { sessionIdParams } from './sessions.js';

const DAY_MS = 86_400_000;
/** The longest period one report reads: a year of partitions. */
const MAX_PERIOD_DAYS = 366;

const costQuery = z
  .object({
    groupBy: z.enum(COST_GROUPS).default('day'),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export interface CostRoutesDeps {
  readonly config: Pick<Env, 'MODEL_POLICY_FILE'>;
  readonly db: Db;
  readonly modelPolicy?: PolicySource | undefined;
}

const round = (usd: number) => Math.round(usd * 1e8) / 1e8;

/** Mounted at /v1: both routes are tenant-scoped by the principal. */
export function costRoutes(deps: CostRoutesDeps) {
  const { db } = deps;
  const modelPolicy = deps.modelPolicy ?? new ModelPolicyStore(deps.config.MODEL_POLICY_FILE);
  const app = new Hono()
    .get('/sessions/:id/llm-calls', async (c) => {
      const { tenantId } = c.get('principal');
      const { id } = parseParams(c, sessionIdParams);
      const session = await getSessionRow(db, tenantId, id);
      if (!session) throw new ApiError(404, 'session_not_found', `no session ${id}`);
      // The session's calls come after its creation: the bound prunes older partitions.
      const calls = await ledgerRows(db, { tenantId, sessionId: id, since: session.created_at });
      const total = {
        calls: calls.length,
        inputTokens: calls.reduce((n, r) => n + r.inputTokens, 0),
        outputTokens: calls.reduce((n, r) => n + r.outputTokens, 0),
        cachedInputTokens: calls.reduce((n, r) => n + r.cachedInputTokens, 0),
        costUsd: round(calls.reduce((n, r) => n + r.costUsd, 0)),
        savedUsd: round(calls.reduce((n, r) => n + r.savedUsd, 0)),
      };
      return c.json({ sessionId: id, data: calls, total });
    })
    .get('/cost', async (c) => {
      const { tenantId } = c.get('principal');
      const q = parseQuery(c, costQuery);
      const to = q.to ? new Date(q.to) : new Date();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * DAY_MS);
      if (from >= to) throw new ApiError(400, 'validation_failed', 'from must be before to', [{ path: 'query.from', message: 'before to' }]);
      if (to.getTime() - from.getTime() > MAX_PERIOD_DAYS * DAY_MS) {
        throw new ApiError(400, 'validation_failed', `a report covers at most ${MAX_PERIOD_DAYS} days`, [{ path: 'query.from', message: `within ${MAX_PERIOD_DAYS} days of to` }]);
      }
      const groups = await costByGroup(db, tenantId, q.groupBy, from, to);
      const budgets = modelPolicy.current.budgets;
      const budget = budgets.tenants[tenantId] ?? budgets.default;
      const spent = await tenantSpend(db, tenantId);
      const left = (limit: number | undefined, used: number) => (limit === undefined ? null : round(limit - used));
      return c.json({
        groupBy: q.groupBy,
        from: from.toISOString(),
        to: to.toISOString(),
        data: groups,
        total: { costUsd: round(groups.reduce((n, g) => n + g.costUsd, 0)), savedUsd: round(groups.reduce((n, g) => n + g.savedUsd, 0)), calls: groups.reduce((n, g) => n + g.calls, 0) },
        budget: {
          dailyUsd: budget?.dailyUsd ?? null,
          monthlyUsd: budget?.monthlyUsd ?? null,
          spentTodayUsd: round(spent.dayUsd),
          spentThisMonthUsd: round(spent.monthUsd),
          leftTodayUsd: left(budget?.dailyUsd, spent.dayUsd),
          leftThisMonthUsd: left(budget?.monthlyUsd, spent.monthUsd),
        },
      });
    });
  return app;
}

export type CostRoutes = ReturnType<typeof costRoutes>;

/** For the OpenAPI document (api/api-document.ts). */
export const costRouteDocs: readonly RouteDoc[] = [
  { method: 'get', path: '/v1/sessions/:id/llm-calls', operationId: 'listSessionLlmCalls', summary: 'The model calls of a session from the llm_calls ledger, with totals', tag: 'cost', params: sessionIdParams, responses: { 200: { description: 'the calls', schema: z.object({ sessionId: z.string(), data: z.array(z.record(z.string(), z.unknown())), total: z.record(z.string(), z.number()) }) }, 404: { description: 'session_not_found' } } },
  { method: 'get', path: '/v1/cost', operationId: 'getCost', summary: 'The tenant’s cost over a period by day, agent or model, and budgets left', tag: 'cost', query: costQuery, responses: { 200: { description: 'the report', schema: z.record(z.string(), z.unknown()) } } },
];

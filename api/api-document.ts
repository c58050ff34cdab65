/**
 * The one place that gathers every route file's descriptions into the
 * OpenAPI document (api/openapi.ts builds it). A new route file adds its
 * `...RouteDocs` here; test/unit/openapi.test.ts fails on a mounted route
 * without a description.
 */
import { appRouteDocs, openApiDocument, type RouteDoc } from './openapi.js';
import { promotionRouteDocs } from './routes/agent-promotions.js';
import { agentRouteDocs } from './routes/agents.js';
import { approvalRouteDocs } from './routes/approvals.js';
import { codecRouteDocs } from './routes/codec.js';
import { codecLoginDocs } from './codec-login.js';
import { costRouteDocs } from './routes/cost.js';
import { eventRouteDocs } from './routes/events.js';
import { historyRouteDocs } from './routes/history.js';
import { artifactRouteDocs } from './routes/artifacts.js';
import { policyRouteDocs } from './routes/policies.js';
import { replayRouteDocs } from './routes/replay.js';
import { secretRouteDocs } from './routes/secrets.js';
import { sessionRouteDocs } from './routes/sessions.js';
import { slackRouteDocs } from './routes/slack.js';

export const ROUTE_DOCS: readonly RouteDoc[] = [
  ...appRouteDocs,
  ...sessionRouteDocs,
  ...secretRouteDocs,
  ...eventRouteDocs,
  ...historyRouteDocs,
  ...artifactRouteDocs,
  ...approvalRouteDocs,
  ...slackRouteDocs,
  ...policyRouteDocs,
  ...agentRouteDocs,
  ...promotionRouteDocs,
  ...costRouteDocs,
  ...replayRouteDocs,
  ...codecRouteDocs,
  ...codecLoginDocs,
];

let cached: ReturnType<typeof openApiDocument> | undefined;

/** Built once per process: the schemas do not change while it runs. */
export function apiDocument(): ReturnType<typeof openApiDocument> {
  cached ??= openApiDocument(ROUTE_DOCS, { title: 'Kortix API', version: '1' });
  return cached;
}

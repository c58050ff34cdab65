/**
 * The OpenAPI document: valid OpenAPI 3.1 (checked against the official
 * schema), and in step with the app: every route the Hono app mounts is
 * described, and nothing described is missing from the app. A new route
 * without a description fails here.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { ROUTE_DOCS } from '../../api/api-document.js';
import { createApp, type ApiDeps } from '../../api/app.js';
import type { EventNotifier } from '../../api/event-notifier.js';
import { openApiPath } from '../../api/openapi.js';
import { loadConfig } from '../../config/index.js';
import type { Db } from '../../db/client.js';
import { ReadinessChecker } from '../../observability/health.js';
import { createLogger } from '../../observability/logger.js';
import { createMetrics } from '../../observability/metrics.js';
import { PolicyStore } from '../../policies/load.js';
import { ModelPolicyStore } from '../../router/policy-store.js';
import { SlackUserMap } from '../../slack/users.js';

/** The app as api/main.ts builds it; nothing here is called but GET /v1/openapi.json, which touches no service. */
function app() {
  const config = loadConfig({ KORTIX_ENV: 'test' });
  const unused = new Proxy({}, { get: () => { throw new Error('not used when building routes'); } });
  const deps: ApiDeps = {
    config,
    db: unused as Db,
    temporal: unused as Client,
    notifier: unused as EventNotifier,
    policies: new PolicyStore(config.POLICIES_DIR),
    modelPolicy: new ModelPolicyStore(config.MODEL_POLICY_FILE),
    metrics: createMetrics({ service: 'api', defaultMetrics: false }),
    readiness: new ReadinessChecker({}),
    logger: createLogger({ level: 'error' }),
    slack: { users: new SlackUserMap({}) },
  };
  return createApp(deps);
}

interface Document {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
}

async function served(): Promise<Document> {
  const res = await app().request('/v1/openapi.json');
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

describe('GET /v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = await served();
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every route the app mounts, and only those', async () => {
    const doc = await served();
    const mounted = new Set(
      app()
        .routes.filter((r) => r.method !== 'ALL' && (r.path.startsWith('/v1/') || ['/healthz', '/readyz', '/metrics'].includes(r.path)))
        .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`),
    );
    const described = new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`)));
    expect([...mounted].filter((route) => !described.has(route)).sort()).toEqual([]);
    expect([...described].filter((route) => !mounted.has(route)).sort()).toEqual([]);
    expect(mounted.has('post /v1/policies/evaluate')).toBe(true);
  });

  it('gives each operation a unique id and the error shape, and takes its schemas from the route files', async () => {
    const doc = await served();
    const ops = Object.values(doc.paths).flatMap((item) => Object.values(item));
    expect(new Set(ops.map((op) => op.operationId)).size).toBe(ops.length);
    expect(ops.every((op) => '4XX' in op.responses)).toBe(true);
    expect(ROUTE_DOCS.length).toBe(ops.length);
    const save = doc.paths['/v1/policies']?.post as unknown as { requestBody: { content: Record<string, { schema: { required: string[] } }> } };
    expect(save.requestBody.content['application/json']?.schema.required).toEqual(['yaml']);
  });
});

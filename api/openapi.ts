/**
 * The OpenAPI 3.1 document of the API, served at `GET /v1/openapi.json`.
 * Each route file exports descriptions of its routes (RouteDoc) built on the
 * same zod schemas its handlers validate with; this module turns them into
 * the document with zod's own JSON Schema converter (`z.toJSONSchema`, zod 4),
 * whose draft 2020-12 output is what OpenAPI 3.1 schemas are.
 * test/unit/openapi.test.ts checks that every route the app mounts is here.
 */
import { z } from 'zod';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseDoc {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default application/json. */
  readonly contentType?: string;
}

/** One route as clients see it. */
export interface RouteDoc {
  readonly method: Method;
  /** The full path in Hono's form (`/v1/policies/:name`). */
  readonly path: string;
  /** Stable and unique: generated clients name their functions after it. */
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  /** Who may call: a tenant API key (default), a Slack signature, or anyone. */
  readonly auth?: 'tenant' | 'slack' | 'none';
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** Default application/json. */
  readonly bodyContentType?: string;
  readonly responses: Readonly<Record<number, ResponseDoc>>;
}

/** The API's one error shape (api/errors.ts). */
export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    fields: z.array(z.object({ path: z.string(), message: z.string(), line: z.number().int().optional() })).optional(),
  }),
});

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  // Refinements and transforms have no JSON Schema form: the schema says what is sent (input) or answered (output).
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

function parameters(where: 'path' | 'query', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const type = field as z.ZodType;
    const description = type.description;
    return {
      name,
      in: where,
      // Path parameters are always required; a query one is when undefined does not pass.
      required: where === 'path' || !type.safeParse(undefined).success,
      schema: jsonSchema(type, 'input'),
      ...(description ? { description } : {}),
    };
  });
}

function operation(route: RouteDoc) {
  const auth = route.auth ?? 'tenant';
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.schema ? { content: { [response.contentType ?? 'application/json']: { schema: jsonSchema(response.schema, 'output') } } } : {}),
    };
  }
  responses['4XX'] ??= { description: 'refused: `error.code` says why, `error.fields[].path` names each bad field', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: auth === 'tenant' ? [{ tenantId: [], apiKey: [] }] : [],
    parameters: [...parameters('path', route.params), ...parameters('query', route.query)],
    ...(route.body
      ? { requestBody: { required: true, content: { [route.bodyContentType ?? 'application/json']: { schema: jsonSchema(route.body, 'input') } } } }
      : {}),
    responses,
  };
}

/** Hono's `/a/:id` is OpenAPI's `/a/{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export function openApiDocument(routes: readonly RouteDoc[], info: { title: string; version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const item = (paths[openApiPath(route.path)] ??= {});
    if (item[route.method]) throw new Error(`two descriptions of ${route.method.toUpperCase()} ${route.path}`);
    item[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: { ...info, description: 'Kortix: durable AI-agent sessions on Temporal. Every /v1 route but Slack needs X-Tenant-Id and a Bearer API key.' },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      securitySchemes: {
        tenantId: { type: 'apiKey', in: 'header', name: 'X-Tenant-Id' },
        apiKey: { type: 'http', scheme: 'bearer' },
      },
    },
  };
}

/** The routes api/app.ts defines itself. */
export const appRouteDocs: readonly RouteDoc[] = [
  { method: 'get', path: '/healthz', operationId: 'healthz', summary: 'Liveness', tag: 'operations', auth: 'none', responses: { 200: { description: 'alive', schema: z.object({ ok: z.literal(true) }) } } },
  { method: 'get', path: '/readyz', operationId: 'readyz', summary: 'Readiness: Temporal, Postgres, Docker; 503 while draining. `models` reports each model endpoint (not part of readiness)', tag: 'operations', auth: 'none', responses: { 200: { description: 'ready', schema: z.record(z.string(), z.unknown()) }, 503: { description: 'not ready' } } },
  { method: 'get', path: '/metrics', operationId: 'metrics', summary: 'Prometheus metrics', tag: 'operations', auth: 'none', responses: { 200: { description: 'Prometheus text format', schema: z.string(), contentType: 'text/plain' } } },
  { method: 'get', path: '/v1/openapi.json', operationId: 'openApiDocument', summary: 'This document', tag: 'operations', auth: 'none', responses: { 200: { description: 'OpenAPI 3.1', schema: z.record(z.string(), z.unknown()) } } },
];

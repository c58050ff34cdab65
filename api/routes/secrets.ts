/**
 * A tenant's secret references: `PUT /v1/secrets/:name` binds a secret (by
 * name; the value stays in the provider) to hosts and says how the egress
 * proxy injects it, or, without hosts, lets sessions mount it for one
 * approved call; every session of the tenant then has it. The name must
 * exist in the provider (400 secret_not_found). Values are never returned.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { deleteTenantSecret, listTenantSecrets, putTenantSecret, type TenantSecretRow } from '../../db/tenant-secrets.js';
import { secretBindingSchema, secretName } from '../../domain/secret-binding.js';
import type { SecretProvider } from '../../secrets/provider.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { checkSecretsExist } from '../session-secrets.js';
import { parseBody, parseParams } from '../validation.js';

const nameParams = z.object({ name: secretName });
const putSchema = z
  .object({ hosts: secretBindingSchema.shape.hosts.optional(), inject: secretBindingSchema.shape.inject.optional() })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.hosts === undefined) !== (b.inject === undefined)) ctx.addIssue({ code: 'custom', path: [b.hosts ? 'inject' : 'hosts'], message: 'give hosts and inject together, or neither' });
  });

const present = (r: TenantSecretRow) => ({ name: r.name, hosts: r.hosts, inject: r.inject, updatedBy: r.updated_by, updatedAt: r.updated_at.toISOString() });

export function secretRoutes(deps: { db: Db; secrets?: SecretProvider | undefined }): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const { tenantId } = c.get('principal');
    return c.json({ data: (await listTenantSecrets(deps.db, tenantId)).map(present) });
  });
  app.put('/:name', async (c) => {
    const principal = c.get('principal');
    const { name } = parseParams(c, nameParams);
    const body = await parseBody(c, putSchema);
    await checkSecretsExist(deps.secrets, principal.tenantId, [name], 'params.name');
    const row = await putTenantSecret(deps.db, { tenantId: principal.tenantId, name, hosts: body.hosts ?? null, inject: body.inject ?? null, by: principal.principal });
    return c.json(present(row));
  });
  app.delete('/:name', async (c) => {
    const { tenantId } = c.get('principal');
    const { name } = parseParams(c, nameParams);
    if (!(await deleteTenantSecret(deps.db, tenantId, name))) throw new ApiError(404, 'secret_not_found', `the tenant has no secret reference ${name}`);
    return c.body(null, 204);
  });
  return app;
}

const entry = z.object({ name: z.string(), hosts: z.array(z.string()).nullable(), inject: z.unknown(), updatedBy: z.string(), updatedAt: z.string() });

export const secretRouteDocs: readonly RouteDoc[] = [
  { method: 'get', path: '/v1/secrets', operationId: 'listTenantSecrets', summary: 'The tenant’s secret references (names and bindings, never values)', tag: 'secrets', responses: { 200: { description: 'references', schema: z.object({ data: z.array(entry) }) } } },
  { method: 'put', path: '/v1/secrets/:name', operationId: 'putTenantSecret', summary: 'Reference a secret of the provider for every session of the tenant, bound to hosts or mount-only', tag: 'secrets', params: nameParams, body: putSchema, responses: { 200: { description: 'the reference', schema: entry }, 400: { description: 'secret_not_found, or a bad binding' } } },
  { method: 'delete', path: '/v1/secrets/:name', operationId: 'deleteTenantSecret', summary: 'Drop a reference (the value stays in the provider)', tag: 'secrets', params: nameParams, responses: { 204: { description: 'dropped' }, 404: { description: 'secret_not_found' } } },
];

/** Tenants and their API keys. Keys are random, shown once, stored as sha256. */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from './client.js';
import { storableJson } from './storable.js';

export interface Principal {
  readonly tenantId: string;
  /** Who acts: requester of the sessions this key starts, approver of the gates it answers. */
  readonly principal: string;
  readonly roles: readonly string[];
  readonly keyId: string;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export async function tenantExists(db: Db, tenantId: string): Promise<boolean> {
  return (await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst()) !== undefined;
}

export async function createTenant(db: Db, tenant: { id: string; name?: string }): Promise<void> {
  await db
    .insertInto('tenants')
    .values({ id: tenant.id, name: tenant.name ?? tenant.id })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** Creates a key for a principal of a tenant; returns the key (its only appearance). */
export async function createApiKey(
  db: Db,
  input: { tenantId: string; principal: string; roles?: readonly string[]; key?: string },
): Promise<{ id: string; key: string }> {
  const key = input.key ?? `kx_${randomBytes(24).toString('base64url')}`;
  const id = `key_${randomUUID()}`;
  await db
    .insertInto('api_keys')
    .values({
      id,
      tenant_id: input.tenantId,
      principal: input.principal,
      roles: storableJson(input.roles ?? []),
      key_hash: hashApiKey(key),
    })
    .execute();
  return { id, key };
}

/** The principal of a key, if the key exists, is not revoked and belongs to the tenant. */
export async function authenticate(db: Db, tenantId: string, key: string): Promise<Principal | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'tenant_id', 'principal', 'roles'])
    .where('key_hash', '=', hashApiKey(key))
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) return undefined;
  return { tenantId: row.tenant_id, principal: row.principal, roles: row.roles, keyId: row.id };
}

/** Whether an API key of the tenant is still there and not revoked (a codec login cookie lasts only as long as its key). */
export async function apiKeyActive(db: Db, tenantId: string, keyId: string): Promise<boolean> {
  const row = await db
    .selectFrom('api_keys')
    .select('id')
    .where('id', '=', keyId)
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row !== undefined;
}

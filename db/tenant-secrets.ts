/**
 * SQL of a tenant's secret references (0010_secrets). Every query names the
 * tenant. The table's type is declared here (Kysely withTables), beside the
 * only code that reads it.
 */
import type { ColumnType, JSONColumnType } from 'kysely';
import type { SecretInject, SecretReference } from '../domain/secret-binding.js';
import type { Db } from './client.js';

export interface TenantSecretsTable {
  tenant_id: string;
  name: string;
  hosts: JSONColumnType<string[] | null, string | null, string | null>;
  inject: JSONColumnType<SecretInject | null, string | null, string | null>;
  updated_by: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

const table = (db: Db) => db.withTables<{ tenant_secrets: TenantSecretsTable }>();

export interface TenantSecretRow {
  readonly name: string;
  readonly hosts: string[] | null;
  readonly inject: SecretInject | null;
  readonly updated_by: string;
  readonly updated_at: Date;
}

export async function listTenantSecrets(db: Db, tenantId: string): Promise<TenantSecretRow[]> {
  return table(db).selectFrom('tenant_secrets').select(['name', 'hosts', 'inject', 'updated_by', 'updated_at']).where('tenant_id', '=', tenantId).orderBy('name').execute();
}

/** The tenant's references as sessions use them. */
export async function tenantSecretReferences(db: Db, tenantId: string): Promise<SecretReference[]> {
  return (await listTenantSecrets(db, tenantId)).map((r) => (r.hosts && r.inject ? { name: r.name, hosts: r.hosts, inject: r.inject } : r.name));
}

export async function putTenantSecret(db: Db, row: { tenantId: string; name: string; hosts: string[] | null; inject: SecretInject | null; by: string }): Promise<TenantSecretRow> {
  const values = {
    hosts: row.hosts ? JSON.stringify(row.hosts) : null,
    inject: row.inject ? JSON.stringify(row.inject) : null,
    updated_by: row.by,
    updated_at: new Date(),
  };
  return table(db)
    .insertInto('tenant_secrets')
    .values({ tenant_id: row.tenantId, name: row.name, ...values })
    .onConflict((oc) => oc.columns(['tenant_id', 'name']).doUpdateSet(values))
    .returning(['name', 'hosts', 'inject', 'updated_by', 'updated_at'])
    .executeTakeFirstOrThrow();
}

export async function deleteTenantSecret(db: Db, tenantId: string, name: string): Promise<boolean> {
  const r = await table(db).deleteFrom('tenant_secrets').where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

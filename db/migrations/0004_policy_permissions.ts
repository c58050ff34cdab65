import { sql, type Kysely } from 'kysely';

/** Which policies a tenant's principals may use (policies/permissions.ts); null: the defaults. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants add column policy_settings jsonb`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants drop column policy_settings`.execute(db);
}

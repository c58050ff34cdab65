import { sql, type Kysely } from 'kysely';

/**
 * Fair sharing: a tenant's own limits (a null column takes the configured
 * default, config/index.ts TENANT_*), and the sandboxes each session holds, so
 * that a claim anywhere can count a tenant's sandboxes across hosts.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenant_limits')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
    .addColumn('running_sessions', 'integer', (c) => c.check(sql`running_sessions >= 0`))
    .addColumn('sandboxes', 'integer', (c) => c.check(sql`sandboxes >= 0`))
    .addColumn('sse_streams', 'integer', (c) => c.check(sql`sse_streams >= 0`))
    .addColumn('requests_per_second', 'double precision', (c) => c.check(sql`requests_per_second > 0`))
    .addColumn('request_burst', 'integer', (c) => c.check(sql`request_burst >= 1`))
    .addColumn('idle_timeout_seconds', 'integer', (c) => c.check(sql`idle_timeout_seconds >= 0`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('sandbox_leases')
    .addColumn('session_id', 'text', (c) => c.primaryKey().references('sessions.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('claimed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('sandbox_leases_tenant').on('sandbox_leases').column('tenant_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sandbox_leases').execute();
  await db.schema.dropTable('tenant_limits').execute();
}

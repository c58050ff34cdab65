import { sql, type Kysely } from 'kysely';

/**
 * A tenant's own policies managed through the API (api/routes/policies.ts):
 * one row per (tenant, name) and immutable versions addressed by the sha256
 * of the resolved policy's canonical JSON, the same hash a session pins.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenant_policies (
      id bigserial primary key,
      tenant_id text not null references tenants(id) on delete cascade,
      name text not null,
      created_by text not null,
      created_at timestamptz not null default now(),
      unique (tenant_id, name)
    )
  `.execute(db);

  await sql`
    create table policy_versions (
      policy_id bigint not null references tenant_policies(id) on delete cascade,
      tenant_id text not null,
      version integer not null check (version >= 1),
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      yaml text not null,
      policy jsonb not null,
      extends text,
      author text not null,
      change_note text,
      created_at timestamptz not null default now(),
      primary key (policy_id, version)
    )
  `.execute(db);
  // Identical content is the same version; text_pattern_ops so that a sha prefix (name@3f2a9c1) is an index range scan.
  await sql`create unique index policy_versions_sha on policy_versions (policy_id, sha256 text_pattern_ops)`.execute(db);
  // POST /v1/policies/evaluate {policyVersion}: a sha prefix among all of a tenant's policies.
  await sql`create index policy_versions_tenant_sha on policy_versions (tenant_id, sha256 text_pattern_ops)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('policy_versions').execute();
  await db.schema.dropTable('tenant_policies').execute();
}

import { sql, type Kysely } from 'kysely';

/**
 * A tenant's references to secrets (names, never values): every session of
 * the tenant may use them; a binding (hosts, inject) makes the egress proxy
 * add the secret to requests for those hosts. An agent version's own
 * references replace the tenant's of the same name (domain/secret-binding.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenant_secrets (
      tenant_id text not null references tenants(id) on delete cascade,
      name text not null,
      hosts jsonb,
      inject jsonb,
      updated_by text not null,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, name),
      check ((hosts is null) = (inject is null))
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists tenant_secrets`.execute(db);
}

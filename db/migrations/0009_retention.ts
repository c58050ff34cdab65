import { sql, type Kysely } from 'kysely';

/**
 * Retention (config/retention.ts, db/retention.ts, db/archive.ts): a tenant's
 * retention class and legal hold, and the catalogue of months moved to the
 * object store. A catalogue row is written only after the cold copy was
 * verified; `state` says where the month's rows are now.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenant_retention (
      tenant_id text primary key references tenants(id) on delete cascade,
      class text not null,
      legal_hold boolean not null default false,
      legal_hold_reason text,
      updated_by text not null,
      updated_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`
    create table archived_months (
      table_name text not null,
      month date not null,
      partition_name text not null,
      state text not null check (state in ('archived', 'restored', 'expired')),
      manifest_key text not null,
      manifest jsonb not null,
      manifest_sha256 text not null,
      row_count bigint not null,
      bytes bigint not null,
      tenants text[] not null,
      archived_at timestamptz not null default now(),
      restored_at timestamptz,
      expired_at timestamptz,
      primary key (table_name, month)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table archived_months`.execute(db);
  await sql`drop table tenant_retention`.execute(db);
}

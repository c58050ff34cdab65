import { sql, type Kysely } from 'kysely';

/**
 * The Agent Builder: agents per tenant, their immutable versions (named by
 * the sha256 of their canonical JSON, numbered per agent), labels pointing at
 * versions, every label move (the audit), promotions waiting on a gate, and
 * the version a session pinned.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table agents (
      id text primary key,
      tenant_id text not null references tenants(id) on delete cascade,
      slug text not null,
      created_by text not null,
      created_at timestamptz not null default now(),
      unique (tenant_id, slug)
    )
  `.execute(db);
  // Keyset pages of a tenant's agents, by slug.
  await sql`create index agents_tenant_slug on agents (tenant_id, slug)`.execute(db);

  // Never updated or deleted by the application: a version is what its sha says.
  await sql`
    create table agent_versions (
      tenant_id text not null,
      agent_id text not null references agents(id) on delete cascade,
      sha text not null,
      number integer not null,
      spec jsonb not null,
      change_note text,
      author text not null,
      created_at timestamptz not null default now(),
      primary key (agent_id, sha),
      unique (agent_id, number)
    )
  `.execute(db);
  // Lookups by sha prefix (text_pattern_ops serves LIKE 'abc%').
  await sql`create index agent_versions_sha_prefix on agent_versions (agent_id, sha text_pattern_ops)`.execute(db);

  await sql`
    create table agent_labels (
      tenant_id text not null,
      agent_id text not null references agents(id) on delete cascade,
      label text not null,
      sha text not null,
      updated_by text not null,
      updated_at timestamptz not null default now(),
      primary key (agent_id, label),
      foreign key (agent_id, sha) references agent_versions (agent_id, sha)
    )
  `.execute(db);

  await sql`
    create table agent_label_moves (
      id bigserial primary key,
      tenant_id text not null,
      agent_id text not null references agents(id) on delete cascade,
      label text not null,
      from_sha text,
      to_sha text not null,
      moved_by text not null,
      why text not null,
      promotion_id text,
      approvers jsonb not null default '[]'::jsonb,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index agent_label_moves_agent on agent_label_moves (agent_id, id desc)`.execute(db);

  await sql`
    create table agent_promotions (
      id text primary key,
      tenant_id text not null,
      agent_id text not null references agents(id) on delete cascade,
      label text not null,
      from_sha text,
      to_sha text not null,
      requester text not null,
      why text not null,
      reasons jsonb not null,
      status text not null,
      gate jsonb,
      created_at timestamptz not null default now(),
      closed_at timestamptz
    )
  `.execute(db);
  // The approvals inbox reads a tenant's open promotions.
  await sql`create index agent_promotions_open on agent_promotions (tenant_id, created_at desc) where status = 'pending'`.execute(db);

  await sql`alter table sessions add column agent_version text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table sessions drop column if exists agent_version`.execute(db);
  await sql`drop table if exists agent_promotions`.execute(db);
  await sql`drop table if exists agent_label_moves`.execute(db);
  await sql`drop table if exists agent_labels`.execute(db);
  await sql`drop table if exists agent_versions`.execute(db);
  await sql`drop table if exists agents`.execute(db);
}

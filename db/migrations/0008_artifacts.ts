import { sql, type Kysely } from 'kysely';

/**
 * Artifacts (issue 15): files kept in the object store (storage/), described
 * here. The bytes are content-addressed per tenant (`tenants/<t>/sha256/<hex>`):
 * rows of one tenant with the same sha256 share one object, which counts once
 * against the tenant's total. A row is one use of those bytes: a tool call's
 * full output, a file the agent saved as a result, the workspace at release.
 * `ref` makes the write of a retried activity land on the same row.
 *
 * No foreign key to sessions: session rows may move to the cold tier
 * (retention) while the artifacts stay, and the reverse.
 *
 * Also the tenant's two artifact limits (a null column takes the configured
 * default, TENANT_MAX_ARTIFACT_BYTES / TENANT_MAX_ARTIFACT_TOTAL_BYTES).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table artifacts (
      id bigint generated always as identity primary key,
      tenant_id text not null,
      session_id text,
      step integer check (step >= 0),
      ref text not null check (length(ref) between 1 and 512),
      kind text not null check (kind in ('tool_output', 'result', 'workspace')),
      name text not null check (length(name) between 1 and 1024),
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      size_bytes bigint not null check (size_bytes >= 0),
      media_type text not null,
      storage_key text not null,
      tier text not null default 'hot' check (tier in ('hot', 'cold')),
      retention_class text,
      legal_hold boolean not null default false,
      created_at timestamptz not null default now(),
      expires_at timestamptz
    )
  `.execute(db);
  await sql`create unique index artifacts_ref on artifacts (tenant_id, session_id, ref) nulls not distinct`.execute(db);
  await sql`create index artifacts_session on artifacts (tenant_id, session_id, created_at)`.execute(db);
  await sql`create index artifacts_sha on artifacts (tenant_id, sha256)`.execute(db);
  await sql`create index artifacts_expires on artifacts (expires_at) where expires_at is not null`.execute(db);
  // A session started from another's workspace (POST /v1/sessions fromSession): the tarball pinned at start.
  await sql`
    create table session_workspace_sources (
      session_id text primary key,
      tenant_id text not null,
      from_session_id text not null,
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`alter table tenant_limits add column artifact_bytes bigint check (artifact_bytes >= 0)`.execute(db);
  await sql`alter table tenant_limits add column artifact_total_bytes bigint check (artifact_total_bytes >= 0)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenant_limits drop column if exists artifact_total_bytes`.execute(db);
  await sql`alter table tenant_limits drop column if exists artifact_bytes`.execute(db);
  await sql`drop table if exists session_workspace_sources`.execute(db);
  await sql`drop table if exists artifacts`.execute(db);
}

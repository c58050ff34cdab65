import { sql, type Kysely } from 'kysely';

/**
 * Artifacts past their retention class (issue 15): the retention pass deletes
 * their rows (and objects no row uses any more), so two things must outlive a
 * row:
 *
 * - `expired_artifacts`: what went and when, so a download of it answers 410
 *   `artifact_expired` instead of a 404 that looks like a wrong id.
 * - `session_legal_holds`: a legal hold on one session (a tenant's hold is in
 *   tenant_retention). Held sessions' artifacts never expire, including ones
 *   written after the hold was set.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table expired_artifacts (
      id bigint generated always as identity primary key,
      tenant_id text not null,
      session_id text,
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      kind text not null,
      name text not null,
      size_bytes bigint not null,
      created_at timestamptz not null,
      expired_at timestamptz not null
    )
  `.execute(db);
  await sql`create index expired_artifacts_session on expired_artifacts (tenant_id, session_id, sha256)`.execute(db);
  await sql`
    create table session_legal_holds (
      tenant_id text not null references tenants(id) on delete cascade,
      session_id text not null,
      reason text not null check (length(reason) between 1 and 1000),
      held_by text not null,
      held_at timestamptz not null default now(),
      primary key (tenant_id, session_id)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists session_legal_holds`.execute(db);
  await sql`drop table if exists expired_artifacts`.execute(db);
}

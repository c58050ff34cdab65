import { sql, type Kysely } from 'kysely';

/**
 * Workflow starts not yet accepted by Temporal (issue 16): POST /v1/sessions writes one in the transaction that
 * admits the session and answers without waiting for Temporal; the API then starts the workflow and deletes the
 * row (api/session-starter.ts). A row that outlives its `next_attempt_at` lease belongs to an API process that
 * stopped or a start that failed, and any API instance's sweep starts it. `input` is the workflow's input as a
 * Temporal payload, encrypted for the tenant by the payload codec as the start itself would be.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table session_starts (
      session_id text primary key references sessions(id) on delete cascade,
      tenant_id text not null,
      input bytea not null,
      attempts integer not null default 0,
      last_error text,
      next_attempt_at timestamptz not null,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index session_starts_due on session_starts (next_attempt_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists session_starts`.execute(db);
}

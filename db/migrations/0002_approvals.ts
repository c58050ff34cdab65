import { sql, type Kysely } from 'kysely';

/** Approval gates (the inbox reads them), the audit of every decision, and Slack replay protection. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table gates (
      tenant_id text not null,
      session_id text not null references sessions(id) on delete cascade,
      gate_id text not null,
      tool_call_id text not null,
      tool text not null,
      arguments jsonb not null,
      tool_call_hash text not null,
      risk text not null,
      reason text not null,
      rule_id text not null,
      requester text not null,
      required integer not null,
      roles jsonb not null default '[]'::jsonb,
      excluded_approvers jsonb not null default '[]'::jsonb,
      approvals jsonb not null default '[]'::jsonb,
      status text not null,
      rejected_by text,
      opened_at timestamptz not null,
      expires_at timestamptz not null,
      closed_at timestamptz,
      slack_channel text,
      slack_ts text,
      updated_at timestamptz not null default now(),
      primary key (session_id, gate_id)
    )
  `.execute(db);
  await sql`create index gates_tenant_status on gates (tenant_id, status, opened_at desc)`.execute(db);

  // Every vote the workflow took (counted or a duplicate) and every one the API refused.
  await sql`
    create table approvals (
      id bigserial primary key,
      tenant_id text not null,
      session_id text not null,
      gate_id text not null,
      tool_call_hash text,
      approver text not null,
      roles jsonb not null default '[]'::jsonb,
      channel text not null,
      decision text not null,
      outcome text not null,
      comment text,
      idempotency_key text,
      created_at timestamptz not null default now(),
      unique (session_id, idempotency_key)
    )
  `.execute(db);
  await sql`create index approvals_gate on approvals (tenant_id, session_id, gate_id)`.execute(db);

  // agent_active_count and the session list read the sessions that have not ended.
  await sql`create index sessions_active on sessions (tenant_id, status) where ended_at is null`.execute(db);

  // A signed Slack request is accepted once: a replay within the signature's five minutes is refused.
  await sql`create table slack_replays (signature text primary key, seen_at timestamptz not null default now())`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists slack_replays`.execute(db);
  await sql`drop index if exists sessions_active`.execute(db);
  await sql`drop table if exists approvals`.execute(db);
  await sql`drop table if exists gates`.execute(db);
}

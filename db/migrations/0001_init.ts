import { sql, type Kysely } from 'kysely';

/** Tenants, API keys, sessions, the transcript and the event log (partitioned by month). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('principal', 'text', (c) => c.notNull())
    .addColumn('roles', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('api_keys_tenant').on('api_keys').columns(['tenant_id', 'principal']).execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('agent', 'text', (c) => c.notNull())
    .addColumn('requester', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('policy_name', 'text', (c) => c.notNull())
    .addColumn('policy_hash', 'text', (c) => c.notNull())
    .addColumn('model', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('step', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('usage', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('final_answer', 'text')
    .addColumn('error', 'text')
    .addColumn('last_event_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('ended_at', 'timestamptz')
    .execute();
  // The list endpoint: a tenant's sessions, newest first, keyset-paginated.
  await db.schema
    .createIndex('sessions_tenant_created')
    .on('sessions')
    .columns(['tenant_id', 'created_at desc', 'id desc'])
    .execute();

  await db.schema
    .createTable('messages')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('content', 'text')
    .addColumn('tool_calls', 'jsonb')
    .addColumn('tool_call_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('messages_pk', ['session_id', 'seq'])
    .execute();

  // Partitioned by the month the session started, so that retention drops
  // whole months and all events of one session live in one partition.
  await sql`
    create table session_events (
      tenant_id text not null,
      session_id text not null,
      session_created_at timestamptz not null,
      seq integer not null,
      idempotency_key text not null,
      type text not null,
      data jsonb not null default '{}'::jsonb,
      created_at timestamptz not null default now(),
      primary key (session_id, seq, session_created_at),
      unique (session_id, idempotency_key, session_created_at)
    ) partition by range (session_created_at)
  `.execute(db);
  await sql`create table session_events_default partition of session_events default`.execute(db);

  // Every insert wakes the API's SSE streams of that session.
  await sql`
    create function notify_session_event() returns trigger language plpgsql as $$
    begin
      perform pg_notify('session_events', new.session_id);
      return null;
    end $$
  `.execute(db);
  await sql`
    create trigger session_events_notify after insert on session_events
    for each row execute function notify_session_event()
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists session_events cascade`.execute(db);
  await sql`drop function if exists notify_session_event`.execute(db);
  await db.schema.dropTable('messages').ifExists().execute();
  await db.schema.dropTable('sessions').ifExists().execute();
  await db.schema.dropTable('api_keys').ifExists().execute();
  await db.schema.dropTable('tenants').ifExists().execute();
}

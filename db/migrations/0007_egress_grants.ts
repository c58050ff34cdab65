import { sql, type Kysely } from 'kysely';

/**
 * Hosts granted to one sandbox at its host's egress proxy after a
 * `request_network` call was allowed or approved (network.approve). Keyed by
 * container: a grant never reaches another sandbox, and a restarted worker's
 * proxy reads them back. Rows go when the sandbox is released.
 * `port` 0 stands for "80 and 443" (a pattern without a port).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table egress_grants (
      container_id text not null,
      host text not null,
      port integer not null check (port between 0 and 65535),
      tenant_id text not null,
      session_id text not null references sessions(id) on delete cascade,
      granted_by text not null,
      gate text,
      granted_at timestamptz not null default now(),
      primary key (container_id, host, port)
    )
  `.execute(db);
  await sql`create index egress_grants_session on egress_grants (session_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table egress_grants`.execute(db);
}

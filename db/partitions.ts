/** Monthly partitions of the append-heavy tables, created ahead of time. */
import { sql } from 'kysely';
import type { Db } from './client.js';

const PARTITIONED_TABLES = ['session_events', 'llm_calls'] as const;

function monthStart(year: number, month: number): Date {
  return new Date(Date.UTC(year, month, 1));
}

/** Creates the partitions of `monthsAhead` months from `now`'s month on (idempotent). */
export async function ensureMonthlyPartitions(db: Db, now = new Date(), monthsAhead = 3): Promise<string[]> {
  const created: string[] = [];
  for (const table of PARTITIONED_TABLES) {
    for (let i = 0; i < monthsAhead; i++) {
      const from = monthStart(now.getUTCFullYear(), now.getUTCMonth() + i);
      const to = monthStart(from.getUTCFullYear(), from.getUTCMonth() + 1);
      const name = `${table}_${from.getUTCFullYear()}${String(from.getUTCMonth() + 1).padStart(2, '0')}`;
      const exists = await sql<{ n: number }>`select 1 as n from pg_class where relname = ${name}`.execute(db);
      if (exists.rows.length > 0) continue;
      await sql`
        create table if not exists ${sql.id(name)} partition of ${sql.id(table)}
        for values from (${sql.lit(from.toISOString())}) to (${sql.lit(to.toISOString())})
      `.execute(db);
      created.push(name);
    }
  }
  return created;
}

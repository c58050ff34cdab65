/** Monthly partitions of the append-heavy tables, created ahead of time. */
import { sql } from 'kysely';
import type { Db } from './client.js';

const PARTITIONED_TABLES = ['session_events', 'llm_calls'] as const;
type PartitionedTable = (typeof PARTITIONED_TABLES)[number];

/** The first instant of a month, UTC (`month` may run past 0..11: it carries into the year). */
export function monthStart(year: number, month: number): Date {
  return new Date(Date.UTC(year, month, 1));
}

/** The name of a table's partition for the month starting at `from`: `llm_calls_202611`. */
export function partitionName(table: PartitionedTable, from: Date): string {
  return `${table}_${from.getUTCFullYear()}${String(from.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The month a partition's name stands for (its first instant), or undefined for other names (the default partition). */
export function partitionMonth(table: PartitionedTable, name: string): Date | undefined {
  const m = new RegExp(`^${table}_(\\d{4})(\\d{2})$`).exec(name);
  return m ? monthStart(Number(m[1]), Number(m[2]) - 1) : undefined;
}

/** Whether a table (or any relation) of that name exists. */
export async function relationExists(db: Db, name: string): Promise<boolean> {
  const exists = await sql`select 1 from pg_class where relname = ${name}`.execute(db);
  return exists.rows.length > 0;
}

/** Creates the partitions of `monthsAhead` months from `now`'s month on (idempotent). */
export async function ensureMonthlyPartitions(db: Db, now = new Date(), monthsAhead = 3): Promise<string[]> {
  const created: string[] = [];
  for (const table of PARTITIONED_TABLES) {
    for (let i = 0; i < monthsAhead; i++) {
      const from = monthStart(now.getUTCFullYear(), now.getUTCMonth() + i);
      const to = monthStart(from.getUTCFullYear(), from.getUTCMonth() + 1);
      const name = partitionName(table, from);
      if (await relationExists(db, name)) continue;
      await sql`
        create table if not exists ${sql.id(name)} partition of ${sql.id(table)}
        for values from (${sql.lit(from.toISOString())}) to (${sql.lit(to.toISOString())})
      `.execute(db);
      created.push(name);
    }
  }
  return created;
}

/** The monthly partitions of a table (not its default partition), oldest first. */
export async function monthlyPartitions(db: Db, table: PartitionedTable): Promise<{ name: string; month: Date }[]> {
  const rows = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent
    where p.relname = ${table}`.execute(db);
  return rows.rows
    .map(({ name }) => ({ name, month: partitionMonth(table, name) }))
    .filter((p): p is { name: string; month: Date } => p.month !== undefined)
    .sort((a, b) => a.month.getTime() - b.month.getTime());
}

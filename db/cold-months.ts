/**
 * The SQL behind the cold tier (retention/archive.ts, restore.ts, run.ts):
 * which monthly partitions exist and whose rows they hold, a month's rows read
 * in one snapshot, dropped, and loaded back into a rebuilt partition. The
 * catalogue of archived months is db/archive-catalogue.ts.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from './client.js';
import type { ArchivedTable } from '../domain/maintenance-report.js';

/** Serializes archive and restore across workers and the command line. */
const ARCHIVE_LOCK = 'kortix-archive';

/** One table's rows of one month, as dumped and (for a partition) dropped. */
export interface MonthUnit {
  readonly table: ArchivedTable;
  readonly month: Date;
  readonly to: Date;
  /** The partition to drop, or for messages the table the rows are deleted from. */
  readonly relation: string;
  readonly partitioned: boolean;
}

/** The tenants with rows in a partition and, with `withSessions`, with sessions created in its month. */
export async function partitionTenants(db: Db, relation: string, month: Date, to: Date, withSessions: boolean): Promise<string[]> {
  const rows = withSessions
    ? await sql<{ t: string }>`
        select tenant_id as t from ${sql.table(relation)}
        union select tenant_id from sessions where created_at >= ${month} and created_at < ${to}`.execute(db)
    : await sql<{ t: string }>`select distinct tenant_id as t from ${sql.table(relation)}`.execute(db);
  return rows.rows.map((r) => r.t);
}

/** Whether a session created in [month, to) is still running (across tenants: a month is archived whole). */
export async function monthHasRunningSessions(db: Db, month: Date, to: Date): Promise<boolean> {
  const running = await sql`select 1 from sessions where created_at >= ${month} and created_at < ${to} and ended_at is null limit 1`.execute(db);
  return running.rows.length > 0;
}

/** The table's columns and types, recorded in the manifest and checked again at restore. */
export async function tableColumns(db: Db, table: ArchivedTable): Promise<{ name: string; type: string }[]> {
  const rows = await sql<{ name: string; type: string }>`
    select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
    where attrelid = ${table}::regclass and attnum > 0 and not attisdropped order by attnum`.execute(db);
  return rows.rows;
}

/** The tenants whose rows a unit holds, sorted. */
export async function unitTenants(db: Db, unit: MonthUnit): Promise<string[]> {
  const rows = unit.partitioned
    ? await sql<{ t: string }>`select distinct tenant_id as t from ${sql.table(unit.relation)}`.execute(db)
    : await sql<{ t: string }>`select distinct tenant_id as t from sessions where created_at >= ${unit.month} and created_at < ${unit.to}`.execute(db);
  return rows.rows.map((r) => r.t).sort();
}

/** The ids of the sessions created in the unit's month: the messages of a month are theirs. */
function monthSessionIds(unit: MonthUnit): RawBuilder<{ id: string }> {
  return sql<{ id: string }>`select id from sessions where created_at >= ${unit.month} and created_at < ${unit.to}`;
}

/** The rows of a unit as one JSON text each, in the table's column order. */
function rowsQuery(unit: MonthUnit): RawBuilder<{ j: string }> {
  if (unit.partitioned) return sql<{ j: string }>`select row_to_json(t)::text as j from ${sql.table(unit.relation)} t`;
  return sql<{ j: string }>`
    select row_to_json(m)::text as j from messages m
    where m.session_id in (${monthSessionIds(unit)})`;
}

/**
 * Reads a unit's rows (JSON text each) in one read-only snapshot, `batchRows`
 * at a time through a cursor, so memory holds one batch and the caller's part.
 */
export async function readUnitRows(db: Db, unit: MonthUnit, batchRows: number, onBatch: (rows: readonly string[]) => Promise<void>): Promise<void> {
  await db.connection().execute(async (conn) => {
    await sql`begin isolation level repeatable read read only`.execute(conn);
    try {
      await sql`declare archive_rows no scroll cursor for ${rowsQuery(unit)}`.execute(conn);
      for (;;) {
        const { rows } = await sql<{ j: string }>`fetch ${sql.raw(String(batchRows))} from archive_rows`.execute(conn);
        await onBatch(rows.map((r) => r.j));
        if (rows.length < batchRows) break;
      }
      await sql`commit`.execute(conn);
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
}

/**
 * Runs `fn` in a transaction holding the archive lock, so one archive or
 * restore at a time changes partitions; `lockTimeout` bounds the wait on
 * table locks (an archive gives up rather than stall the writers).
 */
export async function inArchiveTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>, options: { lockTimeout?: string } = {}): Promise<T> {
  return db.transaction().execute(async (trx) => {
    if (options.lockTimeout) await sql`set local lock_timeout = ${sql.lit(options.lockTimeout)}`.execute(trx);
    await sql`select pg_advisory_xact_lock(hashtext(${ARCHIVE_LOCK}))`.execute(trx);
    return fn(trx);
  });
}

/** Locks a unit's partition against writers and counts its rows (in the archive transaction). */
export async function lockAndCountUnit(trx: Db, unit: MonthUnit): Promise<number> {
  if (unit.partitioned) await sql`lock table ${sql.table(unit.relation)} in exclusive mode`.execute(trx);
  const { rows } = unit.partitioned
    ? await sql<{ n: string }>`select count(*) as n from ${sql.table(unit.relation)}`.execute(trx)
    : await sql<{ n: string }>`
        select count(*) as n from messages where session_id in (${monthSessionIds(unit)})`.execute(trx);
  return Number(rows[0]!.n);
}

/** Drops a unit's rows: a partition is detached and dropped, messages are deleted by session. */
export async function dropUnit(trx: Db, unit: MonthUnit): Promise<void> {
  if (unit.partitioned) {
    await sql`alter table ${sql.table(unit.table)} detach partition ${sql.table(unit.relation)}`.execute(trx);
    await sql`drop table ${sql.table(unit.relation)}`.execute(trx);
  } else {
    await sql`delete from messages where session_id in (${monthSessionIds(unit)})`.execute(trx);
  }
}

/** A detached table shaped like `table`, to load a partition's rows into before attaching it. */
export async function createPartitionTable(trx: Db, partition: string, table: string): Promise<void> {
  await sql`create table ${sql.table(partition)} (like ${sql.table(table)} including defaults including constraints)`.execute(trx);
}

/** Inserts rows given as a JSON array text of objects with the target's columns. */
export async function insertJsonRows(trx: Db, target: string, rowsJson: string): Promise<void> {
  await sql`insert into ${sql.table(target)} select * from json_populate_recordset(null::${sql.table(target)}, ${rowsJson}::json)`.execute(trx);
}

export async function attachPartition(trx: Db, table: string, partition: string, bounds: { from: string; to: string }): Promise<void> {
  await sql`alter table ${sql.table(table)} attach partition ${sql.table(partition)} for values from (${sql.lit(bounds.from)}) to (${sql.lit(bounds.to)})`.execute(trx);
}

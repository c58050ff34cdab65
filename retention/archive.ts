/**
 * Moves one month to the cold tier: its rows are written to the object store
 * as gzip JSON Lines parts, each part read back and checked (size, sha256,
 * decompressed content, row count), then a manifest written and checked the
 * same way; only then, in one transaction that first checks nothing was added
 * since, is the partition detached and dropped (and the month's messages
 * deleted) and the catalogue row written. Any failure before that commit
 * leaves every row where it was and removes what was written.
 *
 * A month of `session_events` goes together with the `messages` of the same
 * sessions (messages is not partitioned; its rows move by session).
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/client.js';
import { formatMonth } from './cold-format.js';
import {
  ColdVerificationError,
  fetchVerified,
  gzip,
  MANIFEST_VERSION,
  sha256Hex,
  verifyContent,
  type ColdManifest,
  type ColdObject,
} from './cold-format.js';
import type { ObjectStore } from '../storage/object-store.js';

/** Uncompressed bytes of JSON Lines per object: bounds the memory of one part (and of its check). */
export const ARCHIVE_PART_BYTES = 32 * 1024 * 1024;
const FETCH_ROWS = 5_000;
/** Serializes archive and restore across workers and the command line. */
export const ARCHIVE_LOCK = 'kortix-archive';

export type ArchivedTable = 'session_events' | 'llm_calls' | 'messages';

/** One table's rows of one month, as dumped and (for a partition) dropped. */
export interface MonthUnit {
  readonly table: ArchivedTable;
  readonly month: Date;
  readonly to: Date;
  /** The partition to drop, or for messages the table the rows are deleted from. */
  readonly relation: string;
  readonly partitioned: boolean;
}

export interface ArchiveOptions {
  readonly db: Db;
  readonly store: ObjectStore;
  readonly now: Date;
  readonly partBytes?: number;
  /** Called between parts, so a long archive heartbeats. */
  readonly progress?: () => void;
}

export interface ArchivedUnit {
  readonly table: ArchivedTable;
  readonly month: string;
  readonly rows: number;
  readonly bytes: number;
  readonly contentBytes: number;
}

/** The rows of a unit as one JSON text each, in the table's column order. */
function rowsQuery(unit: MonthUnit): RawBuilder<{ j: string }> {
  if (unit.partitioned) return sql<{ j: string }>`select row_to_json(t)::text as j from ${sql.table(unit.relation)} t`;
  return sql<{ j: string }>`
    select row_to_json(m)::text as j from messages m
    where m.session_id in (select id from sessions where created_at >= ${unit.month} and created_at < ${unit.to})`;
}

function countQuery(unit: MonthUnit): RawBuilder<{ n: string }> {
  if (unit.partitioned) return sql<{ n: string }>`select count(*) as n from ${sql.table(unit.relation)}`;
  return sql<{ n: string }>`
    select count(*) as n from messages where session_id in (select id from sessions where created_at >= ${unit.month} and created_at < ${unit.to})`;
}

/** The table's columns and types, recorded in the manifest and checked again at restore. */
export async function tableColumns(db: Db, table: ArchivedTable): Promise<{ name: string; type: string }[]> {
  const rows = await sql<{ name: string; type: string }>`
    select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
    where attrelid = ${table}::regclass and attnum > 0 and not attisdropped order by attnum`.execute(db);
  return rows.rows;
}

/** Writes one part and reads it back before going on. */
async function writePart(store: ObjectStore, key: string, lines: readonly string[]): Promise<ColdObject> {
  const content = Buffer.from(lines.length ? `${lines.join('\n')}\n` : '', 'utf8');
  const compressed = await gzip(content);
  const object: ColdObject = {
    key,
    rows: lines.length,
    bytes: compressed.length,
    sha256: sha256Hex(compressed),
    contentBytes: content.length,
    contentSha256: sha256Hex(content),
  };
  await store.put(key, compressed, { contentType: 'application/gzip', expectSha256: object.sha256 });
  await verifyContent(object, await fetchVerified(store, object));
  return object;
}

/** Dumps a unit's rows in one snapshot, part by part; returns the parts written and verified. */
async function dumpUnit(options: ArchiveOptions, unit: MonthUnit, prefix: string, written: string[]): Promise<ColdObject[]> {
  const partBytes = options.partBytes ?? ARCHIVE_PART_BYTES;
  const objects: ColdObject[] = [];
  await options.db.connection().execute(async (conn) => {
    await sql`begin isolation level repeatable read read only`.execute(conn);
    try {
      await sql`declare archive_rows no scroll cursor for ${rowsQuery(unit)}`.execute(conn);
      let lines: string[] = [];
      let size = 0;
      const flush = async () => {
        const key = `${prefix}/${unit.table}-${String(objects.length).padStart(5, '0')}.jsonl.gz`;
        written.push(key);
        objects.push(await writePart(options.store, key, lines));
        options.progress?.();
        lines = [];
        size = 0;
      };
      for (;;) {
        const { rows } = await sql<{ j: string }>`fetch ${sql.raw(String(FETCH_ROWS))} from archive_rows`.execute(conn);
        for (const { j } of rows) {
          lines.push(j);
          size += Buffer.byteLength(j) + 1;
          if (size >= partBytes) await flush();
        }
        if (rows.length < FETCH_ROWS) break;
      }
      if (lines.length > 0 || objects.length === 0) await flush();
      await sql`commit`.execute(conn);
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
  return objects;
}

async function unitTenants(db: Db, unit: MonthUnit): Promise<string[]> {
  const rows = unit.partitioned
    ? await sql<{ t: string }>`select distinct tenant_id as t from ${sql.table(unit.relation)}`.execute(db)
    : await sql<{ t: string }>`select distinct tenant_id as t from sessions where created_at >= ${unit.month} and created_at < ${unit.to}`.execute(db);
  return rows.rows.map((r) => r.t).sort();
}

interface WrittenUnit {
  readonly unit: MonthUnit;
  readonly manifest: ColdManifest;
  readonly manifestKey: string;
  readonly manifestSha256: string;
}

async function writeUnit(options: ArchiveOptions, unit: MonthUnit, prefix: string, written: string[]): Promise<WrittenUnit> {
  const columns = await tableColumns(options.db, unit.table);
  const tenants = await unitTenants(options.db, unit);
  const objects = await dumpUnit(options, unit, prefix, written);
  const manifest: ColdManifest = {
    version: MANIFEST_VERSION,
    format: 'jsonl+gzip',
    table: unit.table,
    month: formatMonth(unit.month),
    partition: unit.relation,
    bounds: { from: unit.month.toISOString(), to: unit.to.toISOString() },
    columns,
    rows: objects.reduce((n, o) => n + o.rows, 0),
    bytes: objects.reduce((n, o) => n + o.bytes, 0),
    contentBytes: objects.reduce((n, o) => n + o.contentBytes, 0),
    tenants,
    objects,
    archivedAt: options.now.toISOString(),
  };
  const text = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const manifestKey = `${prefix}/${unit.table}.manifest.json`;
  const manifestSha256 = sha256Hex(text);
  written.push(manifestKey);
  await options.store.put(manifestKey, text, { contentType: 'application/json', expectSha256: manifestSha256 });
  await fetchVerified(options.store, { key: manifestKey, bytes: text.length, sha256: manifestSha256 });
  return { unit, manifest, manifestKey, manifestSha256 };
}

/** The month's prefix of one archive run: a re-archive of a restored month never overwrites the copy it came from. */
export function archivePrefix(table: ArchivedTable, month: Date, now: Date): string {
  return `archive/${formatMonth(month)}/${table}/${now.getTime()}`;
}

/**
 * Archives the units of one month (a partition and, for session events, the
 * month's messages) and drops them; all or nothing. Throws when anything could
 * not be written and verified or the rows changed meanwhile: then nothing was
 * dropped and what was written is removed again.
 */
export async function archiveMonthUnits(options: ArchiveOptions, units: readonly MonthUnit[]): Promise<ArchivedUnit[]> {
  const written: string[] = [];
  try {
    const results: WrittenUnit[] = [];
    for (const unit of units) results.push(await writeUnit(options, unit, archivePrefix(unit.table, unit.month, options.now), written));
    const previous = await options.db.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = '10s'`.execute(trx);
      await sql`select pg_advisory_xact_lock(hashtext(${ARCHIVE_LOCK}))`.execute(trx);
      const replaced: string[] = [];
      for (const { unit, manifest, manifestKey, manifestSha256 } of results) {
        if (unit.partitioned) await sql`lock table ${sql.table(unit.relation)} in exclusive mode`.execute(trx);
        const { n } = (await countQuery(unit).execute(trx)).rows[0]!;
        if (Number(n) !== manifest.rows) throw new ColdVerificationError(`${unit.relation}: ${n} rows now, ${manifest.rows} archived: rows changed during the archive`);
        if (unit.partitioned) {
          await sql`alter table ${sql.table(unit.table)} detach partition ${sql.table(unit.relation)}`.execute(trx);
          await sql`drop table ${sql.table(unit.relation)}`.execute(trx);
        } else {
          await sql`delete from messages where session_id in (select id from sessions where created_at >= ${unit.month} and created_at < ${unit.to})`.execute(trx);
        }
        const old = await trx.selectFrom('archived_months').select(['manifest', 'manifest_key']).where('table_name', '=', unit.table).where('month', '=', `${manifest.month}-01`).executeTakeFirst();
        if (old) replaced.push(...keysOf(old.manifest, old.manifest_key));
        const row = {
          partition_name: unit.relation,
          state: 'archived' as const,
          manifest_key: manifestKey,
          manifest: JSON.stringify(manifest),
          manifest_sha256: manifestSha256,
          row_count: manifest.rows,
          bytes: manifest.bytes,
          tenants: [...manifest.tenants],
          archived_at: options.now,
          restored_at: null,
          expired_at: null,
        };
        await trx
          .insertInto('archived_months')
          .values({ table_name: unit.table, month: `${manifest.month}-01`, ...row })
          .onConflict((oc) => oc.columns(['table_name', 'month']).doUpdateSet(row))
          .execute();
      }
      return replaced;
    });
    // The copy a restored month was restored from, now superseded by the one just verified.
    for (const key of previous) await options.store.delete(key).catch(() => undefined);
    return results.map(({ unit, manifest }) => ({ table: unit.table, month: manifest.month, rows: manifest.rows, bytes: manifest.bytes, contentBytes: manifest.contentBytes }));
  } catch (err) {
    for (const key of written) await options.store.delete(key).catch(() => undefined);
    throw err;
  }
}

/** Every object of a catalogued month: its parts and its manifest. */
export function keysOf(manifest: unknown, manifestKey: string): string[] {
  return [...((manifest as Partial<ColdManifest>).objects ?? []).map((o) => o.key), manifestKey];
}

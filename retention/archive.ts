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
import { catalogueArchivedMonth } from '../db/archive-catalogue.js';
import type { Db } from '../db/client.js';
import { dropUnit, inArchiveTransaction, lockAndCountUnit, readUnitRows, tableColumns, unitTenants, type MonthUnit } from '../db/cold-months.js';
import type { ArchivedTable, ArchivedUnit } from '../domain/maintenance-report.js';
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

export interface ArchiveOptions {
  readonly db: Db;
  readonly store: ObjectStore;
  readonly now: Date;
  readonly partBytes?: number;
  /** Called between parts, so a long archive heartbeats. */
  readonly progress?: () => void;
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
  await readUnitRows(options.db, unit, FETCH_ROWS, async (rows) => {
    for (const j of rows) {
      lines.push(j);
      size += Buffer.byteLength(j) + 1;
      if (size >= partBytes) await flush();
    }
  });
  if (lines.length > 0 || objects.length === 0) await flush();
  return objects;
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
    const previous = await inArchiveTransaction(
      options.db,
      async (trx) => {
        const replaced: string[] = [];
        for (const { unit, manifest, manifestKey, manifestSha256 } of results) {
          const n = await lockAndCountUnit(trx, unit);
          if (n !== manifest.rows) throw new ColdVerificationError(`${unit.relation}: ${n} rows now, ${manifest.rows} archived: rows changed during the archive`);
          await dropUnit(trx, unit);
          const old = await catalogueArchivedMonth(trx, {
            table: unit.table,
            month: manifest.month,
            partition: unit.relation,
            manifestKey,
            manifest,
            manifestSha256,
            rows: manifest.rows,
            bytes: manifest.bytes,
            tenants: manifest.tenants,
            archivedAt: options.now,
          });
          if (old) replaced.push(...keysOf(old.manifest, old.manifestKey));
        }
        return replaced;
      },
      { lockTimeout: '10s' },
    );
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

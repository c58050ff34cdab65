/**
 * Brings an archived month back from the cold tier: every part is fetched and
 * checked (size and sha256 against the manifest, the manifest against the
 * sha256 the catalogue recorded) before its rows are written, the table's
 * columns must still be those archived, and the whole month is loaded in one
 * transaction: a partition rebuilt and attached, the messages put back, the
 * catalogue row marked restored. Anything wrong: nothing is written.
 */
import { archivedMonth, markMonthRestored, type ArchivedMonth } from '../db/archive-catalogue.js';
import type { Db } from '../db/client.js';
import { attachPartition, createPartitionTable, inArchiveTransaction, insertJsonRows, tableColumns } from '../db/cold-months.js';
import { relationExists } from '../db/partitions.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { ArchivedTable } from '../domain/maintenance-report.js';
import { ColdVerificationError, fetchVerified, parseMonth, readAll, sha256Hex, verifyContent, type ColdManifest } from './cold-format.js';

/** Rows per insert statement (one JSON array parameter). */
const INSERT_ROWS = 2_000;

export class RestoreRefusedError extends Error {
  override readonly name = 'RestoreRefusedError';
}

export interface RestoredUnit {
  readonly table: string;
  readonly month: string;
  readonly rows: number;
  readonly bytes: number;
  readonly contentBytes: number;
}

export interface RestoreResult {
  readonly month: string;
  /** The units loaded now; empty when the month was restored before. */
  readonly restored: readonly RestoredUnit[];
  readonly alreadyRestored: readonly string[];
}

async function loadManifest(store: ObjectStore, row: ArchivedMonth): Promise<ColdManifest> {
  // The stored manifest must hash to what the catalogue recorded when it was verified (and so, its parts' hashes).
  const text = await readAll(await store.get(row.manifestKey));
  const sha = sha256Hex(text);
  if (sha !== row.manifestSha256) throw new ColdVerificationError(`${row.manifestKey}: sha256 ${sha}, ${row.manifestSha256} recorded at archive`);
  return JSON.parse(text.toString('utf8')) as ColdManifest;
}

/**
 * Restores month `month` (`2026-09`). Refuses a malformed month, a month never
 * archived, an expired one, a changed schema and any object that is not what
 * was written.
 */
export async function restoreMonth(db: Db, store: ObjectStore, month: string, options: { now?: Date; progress?: () => void } = {}): Promise<RestoreResult> {
  if (!parseMonth(month)) throw new RestoreRefusedError(`month must be YYYY-MM (got ${JSON.stringify(month)})`);
  const rows = await archivedMonth(db, month);
  if (rows.length === 0) throw new RestoreRefusedError(`${month} was never archived: nothing to restore (npm run kortix -- archive ls lists the archived months)`);
  const expired = rows.filter((r) => r.state === 'expired');
  if (expired.length > 0) {
    throw new RestoreRefusedError(`${month}: the cold copy of ${expired.map((r) => r.table).join(', ')} expired at ${expired[0]!.expiredAt?.toISOString() ?? '?'} under the retention class; it cannot be restored`);
  }
  const due = rows.filter((r) => r.state === 'archived');
  const alreadyRestored = rows.filter((r) => r.state === 'restored').map((r) => r.table);
  if (due.length === 0) return { month, restored: [], alreadyRestored };

  const manifests: ColdManifest[] = [];
  for (const row of due) {
    const manifest = await loadManifest(store, row);
    const columns = await tableColumns(db, manifest.table as ArchivedTable);
    if (JSON.stringify(columns) !== JSON.stringify(manifest.columns)) {
      throw new RestoreRefusedError(`${month}: ${manifest.table} has other columns now than when archived; restore it by hand from ${row.manifestKey}`);
    }
    manifests.push(manifest);
  }
  const now = options.now ?? new Date();
  await inArchiveTransaction(db, async (trx) => {
    for (const manifest of manifests) {
      const partitioned = manifest.table !== 'messages';
      const target = partitioned ? manifest.partition : 'messages';
      if (partitioned) {
        if (await relationExists(trx, manifest.partition)) throw new RestoreRefusedError(`${month}: a table ${manifest.partition} exists already; drop or rename it first`);
        await createPartitionTable(trx, manifest.partition, manifest.table);
      }
      let loaded = 0;
      for (const object of manifest.objects) {
        const content = await verifyContent(object, await fetchVerified(store, object));
        const lines = content.toString('utf8').split('\n');
        lines.pop(); // the text ends with a newline
        for (let i = 0; i < lines.length; i += INSERT_ROWS) {
          await insertJsonRows(trx, target, `[${lines.slice(i, i + INSERT_ROWS).join(',')}]`);
        }
        loaded += lines.length;
        options.progress?.();
      }
      if (loaded !== manifest.rows) throw new ColdVerificationError(`${month}: ${loaded} rows in the parts of ${manifest.table}, ${manifest.rows} in the manifest`);
      if (partitioned) await attachPartition(trx, manifest.table, manifest.partition, manifest.bounds);
      await markMonthRestored(trx, manifest.table, month, now);
    }
  });
  return {
    month,
    restored: manifests.map((m) => ({ table: m.table, month, rows: m.rows, bytes: m.bytes, contentBytes: m.contentBytes })),
    alreadyRestored,
  };
}

/**
 * The catalogue of months in the cold tier (archived_months): one row per
 * table and month, written in the transaction that dropped the rows, after
 * their cold copy was read back and verified (retention/archive.ts).
 */
import type { Db } from './client.js';
import type { ArchivedMonthState } from './retention-tables.js';

export interface ArchivedMonth {
  readonly table: string;
  /** `2026-09`. */
  readonly month: string;
  readonly partition: string;
  readonly state: ArchivedMonthState;
  readonly manifestKey: string;
  readonly manifest: unknown;
  readonly manifestSha256: string;
  readonly rows: number;
  readonly bytes: number;
  readonly tenants: readonly string[];
  readonly archivedAt: Date;
  readonly restoredAt: Date | null;
  readonly expiredAt: Date | null;
}

/** `2026-09` ↔ the `date` column's `2026-09-01`. */
export const monthToDate = (month: string): string => `${month}-01`;

/** The month (`2026-09`) an instant falls in, UTC. */
export function monthOf(at: Date): string {
  return `${at.getUTCFullYear()}-${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}

const columns = [
  'table_name',
  'partition_name',
  'state',
  'manifest_key',
  'manifest',
  'manifest_sha256',
  'row_count',
  'bytes',
  'tenants',
  'archived_at',
  'restored_at',
  'expired_at',
] as const;

function fromRow(row: {
  table_name: string;
  month_text: string;
  partition_name: string;
  state: ArchivedMonthState;
  manifest_key: string;
  manifest: unknown;
  manifest_sha256: string;
  row_count: string;
  bytes: string;
  tenants: string[];
  archived_at: Date;
  restored_at: Date | null;
  expired_at: Date | null;
}): ArchivedMonth {
  return {
    table: row.table_name,
    month: row.month_text,
    partition: row.partition_name,
    state: row.state,
    manifestKey: row.manifest_key,
    manifest: row.manifest,
    manifestSha256: row.manifest_sha256,
    rows: Number(row.row_count),
    bytes: Number(row.bytes),
    tenants: row.tenants,
    archivedAt: row.archived_at,
    restoredAt: row.restored_at,
    expiredAt: row.expired_at,
  };
}

function selectCatalogue(db: Db) {
  return db.selectFrom('archived_months').select(columns).select((eb) => eb.fn<string>('to_char', ['month', eb.val('YYYY-MM')]).as('month_text'));
}

/** Every catalogued month, oldest first. */
export async function listArchivedMonths(db: Db): Promise<ArchivedMonth[]> {
  const rows = await selectCatalogue(db).orderBy('month').orderBy('table_name').execute();
  return rows.map(fromRow);
}

/** The catalogue rows of one month (`2026-09`). */
export async function archivedMonth(db: Db, month: string): Promise<ArchivedMonth[]> {
  const rows = await selectCatalogue(db).where('month', '=', monthToDate(month)).orderBy('table_name').execute();
  return rows.map(fromRow);
}

/** The month's row of one table, if it is catalogued. */
export async function archivedTableMonth(db: Db, table: string, month: string): Promise<ArchivedMonth | undefined> {
  const row = await selectCatalogue(db).where('table_name', '=', table).where('month', '=', monthToDate(month)).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/**
 * Whether the events of a session started at `createdAt` are out of Postgres:
 * the catalogue row of their month when it is archived or expired, else undefined.
 */
export async function sessionEventsArchived(db: Db, createdAt: Date): Promise<ArchivedMonth | undefined> {
  const row = await archivedTableMonth(db, 'session_events', monthOf(createdAt));
  return row && row.state !== 'restored' ? row : undefined;
}

/** Marks an archived month's cold copy expired (its objects were deleted); a month restored meanwhile is left alone. */
export async function markColdCopyExpired(db: Db, table: string, month: string, at: Date): Promise<void> {
  await db
    .updateTable('archived_months')
    .set({ state: 'expired', expired_at: at })
    .where('table_name', '=', table)
    .where('month', '=', monthToDate(month))
    .where('state', '=', 'archived')
    .execute();
}

/** Marks a month of a table restored; `db` is the restore's transaction, so the row changes with the rows loaded. */
export async function markMonthRestored(db: Db, table: string, month: string, at: Date): Promise<void> {
  await db
    .updateTable('archived_months')
    .set({ state: 'restored', restored_at: at })
    .where('table_name', '=', table)
    .where('month', '=', monthToDate(month))
    .execute();
}

/** A month's row as the archive writes it (then state archived, not restored, not expired). */
export type CatalogueEntry = Pick<ArchivedMonth, 'table' | 'month' | 'partition' | 'manifestKey' | 'manifest' | 'manifestSha256' | 'rows' | 'bytes' | 'tenants' | 'archivedAt'>;

/**
 * Records a month as archived, replacing the row of an earlier archive of it
 * (a month restored and archived again); `db` is the archive's transaction.
 * Returns the replaced row's manifest and key, whose objects are now superseded.
 */
export async function catalogueArchivedMonth(db: Db, entry: CatalogueEntry): Promise<{ manifest: unknown; manifestKey: string } | undefined> {
  const month = monthToDate(entry.month);
  const old = await db.selectFrom('archived_months').select(['manifest', 'manifest_key']).where('table_name', '=', entry.table).where('month', '=', month).executeTakeFirst();
  const row = {
    partition_name: entry.partition,
    state: 'archived' as const,
    manifest_key: entry.manifestKey,
    manifest: JSON.stringify(entry.manifest),
    manifest_sha256: entry.manifestSha256,
    row_count: entry.rows,
    bytes: entry.bytes,
    tenants: [...entry.tenants],
    archived_at: entry.archivedAt,
    restored_at: null,
    expired_at: null,
  };
  await db
    .insertInto('archived_months')
    .values({ table_name: entry.table, month, ...row })
    .onConflict((oc) => oc.columns(['table_name', 'month']).doUpdateSet(row))
    .execute();
  return old ? { manifest: old.manifest, manifestKey: old.manifest_key } : undefined;
}

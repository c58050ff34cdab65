/** Kysely's view of the retention tables (migration 0009_retention). */
import type { ColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface TenantRetentionTable {
  tenant_id: string;
  /** A class of RETENTION_CLASSES (config/retention.ts). */
  class: string;
  /** Nothing of the tenant is deleted while set: no partition dropped, no cold copy or artifact expired. */
  legal_hold: ColumnType<boolean, boolean | undefined, boolean>;
  legal_hold_reason: string | null;
  updated_by: string;
  updated_at: Timestamp;
}

export type ArchivedMonthState = 'archived' | 'restored' | 'expired';

/** One month of one table in the cold tier: written after its objects were read back and verified. */
export interface ArchivedMonthsTable {
  table_name: string;
  /** The month's first day (`2026-09-01`); pg returns a date column as a Date at local midnight, so read it as text. */
  month: ColumnType<string, string, string>;
  partition_name: string;
  state: ArchivedMonthState;
  /** The object store key of the manifest; its parts sit next to it. */
  manifest_key: string;
  manifest: ColumnType<unknown, string, string>;
  manifest_sha256: string;
  row_count: ColumnType<string, number, number>;
  bytes: ColumnType<string, number, number>;
  tenants: ColumnType<string[], string[], string[]>;
  archived_at: Timestamp;
  restored_at: NullableTimestamp;
  expired_at: NullableTimestamp;
}

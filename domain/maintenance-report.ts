/**
 * What one run of the maintenance schedule reports: the database housekeeping
 * (db/maintenance.ts), the retention pass (retention/run.ts) and the artifact
 * expiry (db/artifacts.ts). The `maintenance` workflow returns it, so it is
 * also the run's result in the Web UI and `temporal workflow show`; defined
 * here, under the workflow and the code that produces it. Bottom layer:
 * imports nothing of the project and is safe in workflow code.
 */

/** The tables whose months go to the cold tier. */
export type ArchivedTable = 'session_events' | 'llm_calls' | 'messages';

/** One table's month, moved to the cold tier. */
export interface ArchivedUnit {
  readonly table: ArchivedTable;
  readonly month: string;
  readonly rows: number;
  readonly bytes: number;
  readonly contentBytes: number;
}

/** What one expiry pass did. */
export interface ArtifactExpiry {
  /** Rows deleted (each leaves an expired_artifacts row behind). */
  readonly rows: number;
  /** Objects deleted: those no row of the tenant used any more. */
  readonly objects: number;
  /** Bytes of the deleted objects. */
  readonly bytes: number;
  /** Rows past their expiry kept by a legal hold (of the row, its session or its tenant). */
  readonly held: number;
}

export interface MaintenanceReport {
  readonly partitionsCreated: readonly string[];
  readonly cacheRowsDeleted: number;
  /** Expired answers of the semantic cache (0011_semantic_cache). */
  readonly semanticCacheRowsDeleted: number;
  readonly reservationsDeleted: number;
  readonly partitionsDropped: readonly string[];
}

export interface RetentionReport {
  readonly archived: readonly ArchivedUnit[];
  /** Months due but kept, and why: legal_hold, sessions_running, restored_recently, or the error of a failed archive. */
  readonly kept: readonly { readonly table: string; readonly month: string; readonly reason: string }[];
  readonly coldExpired: readonly { readonly table: string; readonly month: string }[];
  /** Artifact rows past their class deleted (each recorded in expired_artifacts). */
  readonly artifactsExpired: number;
  /** What the artifact expiry did besides (absent in runs recorded before it reported them). */
  readonly artifacts?: Omit<ArtifactExpiry, 'rows'>;
}

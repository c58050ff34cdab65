/**
 * The maintenance schedule's activities: database housekeeping
 * (db/maintenance.ts) and the retention pass (retention/run.ts: months to the
 * cold tier, cold copies and artifacts past their class).
 */
import { log } from '@temporalio/activity';
import type { RetentionConfig } from '../config/retention.js';
import type { Db } from '../db/client.js';
import { runDbMaintenance } from '../db/maintenance.js';
import type { MaintenanceReport, RetentionReport } from '../domain/maintenance-report.js';
import { expireArtifacts, runRetention, type RetentionOptions } from '../retention/run.js';
import type { ObjectStore } from '../storage/object-store.js';
import { withHeartbeat } from './heartbeat.js';

export interface RetentionActivityDeps {
  readonly store: ObjectStore;
  readonly config: RetentionConfig;
  /** Expires artifacts past their class (db/artifacts.ts), skipping held tenants. */
  readonly expireArtifacts?: RetentionOptions['expireArtifacts'];
  /** Uncompressed bytes per cold object (tests cut months into several). */
  readonly partBytes?: number;
}

export interface MaintenanceActivityDeps {
  readonly db: Db;
  /** LLM_CALLS_RETENTION_MONTHS. */
  readonly llmCallsRetentionMonths: number;
  /** Without it the retention pass does nothing; with RETENTION_ARCHIVE off it only expires artifacts. */
  readonly retention?: RetentionActivityDeps | undefined;
}

export interface DbMaintenanceInput {
  /** The schedule's run time (workflow time), so partitions follow the schedule, not the worker's clock. */
  readonly at: string;
}

export const EMPTY_RETENTION_REPORT: RetentionReport = Object.freeze({ archived: [], kept: [], coldExpired: [], artifactsExpired: 0 });

export function createMaintenanceActivities({ db, llmCallsRetentionMonths, retention }: MaintenanceActivityDeps) {
  async function dbMaintenance(input: DbMaintenanceInput): Promise<MaintenanceReport> {
    const report = await runDbMaintenance(db, { now: new Date(input.at), llmCallsRetentionMonths });
    log.info('database maintenance', { ...report });
    return report;
  }
  /** Archives months past the hot window; the time is the schedule's, so tests move the clock through the workflow. */
  async function retentionMaintenance(input: DbMaintenanceInput): Promise<RetentionReport> {
    if (!retention) return EMPTY_RETENTION_REPORT;
    if (!retention.config.RETENTION_ARCHIVE) {
      return { ...EMPTY_RETENTION_REPORT, ...(await expireArtifacts({ db, now: new Date(input.at), expireArtifacts: retention.expireArtifacts })) };
    }
    const report = await withHeartbeat(() =>
      runRetention({
        db,
        store: retention.store,
        config: retention.config,
        now: new Date(input.at),
        partBytes: retention.partBytes,
        expireArtifacts: retention.expireArtifacts,
      }),
    );
    log.info('retention', { archived: report.archived.length, kept: report.kept, coldExpired: report.coldExpired.length, artifactsExpired: report.artifactsExpired, ...report.artifacts });
    return report;
  }
  return { dbMaintenance, retentionMaintenance };
}

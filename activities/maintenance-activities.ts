/** The maintenance schedule's one activity: database housekeeping (db/maintenance.ts). */
import { log } from '@temporalio/activity';
import type { Db } from '../db/client.js';
import { runDbMaintenance, type MaintenanceReport } from '../db/maintenance.js';

export interface MaintenanceActivityDeps {
  readonly db: Db;
  /** LLM_CALLS_RETENTION_MONTHS. */
  readonly llmCallsRetentionMonths: number;
}

export interface DbMaintenanceInput {
  /** The schedule's run time (workflow time), so partitions follow the schedule, not the worker's clock. */
  readonly at: string;
}

export function createMaintenanceActivities({ db, llmCallsRetentionMonths }: MaintenanceActivityDeps) {
  async function dbMaintenance(input: DbMaintenanceInput): Promise<MaintenanceReport> {
    const report = await runDbMaintenance(db, { now: new Date(input.at), llmCallsRetentionMonths });
    log.info('database maintenance', { ...report });
    return report;
  }
  return { dbMaintenance };
}

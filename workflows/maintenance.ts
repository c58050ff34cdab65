/**
 * `maintenance`: started by the maintenance schedule (temporal/schedules.ts),
 * one run per interval. Runs the database housekeeping activity and then the
 * retention pass with the schedule's time, and returns what they did (visible
 * as the run's result in the Web UI and `temporal workflow show`).
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities } from '../activities/index.js';
import type { MaintenanceReport, RetentionReport } from '../domain/maintenance-report.js';
import { workflowIso } from './clock.js';

const { dbMaintenance } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 5 },
});

// Archiving a large month takes a while; the heartbeat, not the whole timeout, notices a dead worker.
const { retentionMaintenance } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '30s', backoffCoefficient: 2, maximumInterval: '10m', maximumAttempts: 3 },
});

export interface MaintenanceInput {
  /** The time to run as (ISO); the schedule passes none (its run's time). Lets an operator or a test run a given day. */
  readonly at?: string;
}

export async function maintenance(input: MaintenanceInput = {}): Promise<MaintenanceReport & { retention?: RetentionReport }> {
  const at = input.at ?? workflowIso();
  const report = await dbMaintenance({ at });
  // Runs recorded before the retention pass existed replay without it.
  if (!patched('maintenance-retention')) return report;
  return { ...report, retention: await retentionMaintenance({ at }) };
}

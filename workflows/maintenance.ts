/**
 * `maintenance`: started by the maintenance schedule (temporal/schedules.ts),
 * one run per interval. Runs the database housekeeping activity with the
 * schedule's time and returns what it did (visible as the run's result in the
 * Web UI and `temporal workflow show`).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { MaintenanceActivities } from '../activities/index.js';
import type { MaintenanceReport } from '../db/maintenance.js';
import { workflowIso } from './clock.js';

const { dbMaintenance } = proxyActivities<MaintenanceActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 5 },
});

export async function maintenance(): Promise<MaintenanceReport> {
  return dbMaintenance({ at: workflowIso() });
}

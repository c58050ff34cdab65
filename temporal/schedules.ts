/**
 * The deployment's Temporal Schedules, kept in line with the configuration by
 * the worker at start: the maintenance schedule runs the `maintenance`
 * workflow every MAINTENANCE_INTERVAL (overlaps skipped), and is deleted when
 * the interval is 0. Visible and pausable in the Web UI and with
 * `temporal schedule list|describe|trigger`.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { maintenanceScheduleId, taskQueues, WORKFLOW_TYPES } from '../domain/temporal-names.js';

export interface MaintenanceScheduleOptions {
  readonly prefix: string;
  /** 0 removes the schedule. */
  readonly intervalMs: number;
}

export type ScheduleChange = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent';

export async function ensureMaintenanceSchedule(client: Client, options: MaintenanceScheduleOptions): Promise<ScheduleChange> {
  const scheduleId = maintenanceScheduleId(options.prefix);
  const handle = client.schedule.getHandle(scheduleId);
  if (options.intervalMs <= 0) {
    try {
      await handle.delete();
      return 'deleted';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'absent';
      throw err;
    }
  }
  const spec = { intervals: [{ every: options.intervalMs }] };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action: { type: 'startWorkflow', workflowType: WORKFLOW_TYPES.maintenance, workflowId: scheduleId, taskQueue: taskQueues(options.prefix).sessions, args: [] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
      memo: { purpose: 'partitions ahead, expired cache rows and budget reservations, ledger retention' },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const current = await handle.describe();
  const every = current.spec.intervals?.[0]?.every;
  if (current.spec.intervals?.length === 1 && every === options.intervalMs) return 'unchanged';
  await handle.update((previous) => ({ ...previous, spec }));
  return 'updated';
}

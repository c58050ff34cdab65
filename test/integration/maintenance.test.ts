/**
 * The maintenance schedule on the real Temporal dev server and Postgres: the
 * worker's start-up call creates it once, leaves it alone when the interval
 * is the same, updates it when the interval changes and deletes it at 0; a
 * triggered run of the `maintenance` workflow deletes expired cache rows and
 * budget reservations (and keeps live ones), creates the coming months'
 * partitions, and drops ledger months older than LLM_CALLS_RETENTION_MONTHS.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { relationExists } from '../../db/partitions.js';
import type { MaintenanceReport } from '../../domain/maintenance-report.js';
import { maintenanceScheduleId } from '../../domain/temporal-names.js';
import { ensureMaintenanceSchedule } from '../../temporal/schedules.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';

let stack: Stack;
const tenant = `maint-${randomUUID().slice(0, 8)}`;
/** A ledger month far enough back for any retention of 12 months. */
const OLD_MONTH = 'llm_calls_201901';

beforeAll(async () => {
  stack = await startStack(inject('services'), { env: { LLM_CALLS_RETENTION_MONTHS: '12' } });
});
afterAll(async () => {
  if (stack) await ensureMaintenanceSchedule(stack.temporal, { prefix: stack.config.TASK_QUEUE_PREFIX, intervalMs: 0 }).catch(() => undefined);
  await stack?.close();
});

const prefix = () => stack.config.TASK_QUEUE_PREFIX;
const hour = 3_600_000;

async function seed(): Promise<void> {
  const db = stack.db;
  const cacheRow = (key: string, expires: string) => ({
    tenant_id: tenant,
    cache_key: key,
    model: 'mock',
    value: JSON.stringify({ content: key }),
    cost_usd: '0.01',
    expires_at: sql<Date>`now() + ${sql.raw(`interval '${expires}'`)}`,
  });
  await db.insertInto('llm_cache').values([cacheRow('expired', '-1 minute'), cacheRow('live', '10 minutes')]).execute();
  const reservation = (expires: string) => ({
    id: randomUUID(),
    tenant_id: tenant,
    amount_usd: '1',
    day: sql<string>`current_date`,
    month: sql<string>`date_trunc('month', now())::date`,
    expires_at: sql<Date>`now() + ${sql.raw(`interval '${expires}'`)}`,
  });
  await db.insertInto('llm_budget_reservations').values([reservation('-1 minute'), reservation('-2 hours'), reservation('5 minutes')]).execute();
  await sql`create table if not exists ${sql.table(OLD_MONTH)} partition of llm_calls for values from ('2019-01-01') to ('2019-02-01')`.execute(db);
}

describe('the maintenance schedule', () => {
  it('is created once, kept, updated when the interval changes', async () => {
    expect(await ensureMaintenanceSchedule(stack.temporal, { prefix: prefix(), intervalMs: hour })).toBe('created');
    expect(await ensureMaintenanceSchedule(stack.temporal, { prefix: prefix(), intervalMs: hour })).toBe('unchanged');
    expect(await ensureMaintenanceSchedule(stack.temporal, { prefix: prefix(), intervalMs: 6 * hour })).toBe('updated');
    const described = await stack.temporal.schedule.getHandle(maintenanceScheduleId(prefix())).describe();
    expect(described.spec.intervals?.map((i) => i.every)).toEqual([6 * hour]);
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'maintenance', taskQueue: `${prefix()}-sessions` });
  });

  it('a triggered run deletes what expired, keeps what is live, and drops ledger months past retention', async () => {
    await seed();
    expect(await relationExists(stack.db, OLD_MONTH)).toBe(true);
    const handle = stack.temporal.schedule.getHandle(maintenanceScheduleId(prefix()));
    await handle.trigger();
    const workflowId = await waitFor(async () => (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId, 20_000, 'the triggered run');
    const report = (await stack.temporal.workflow.getHandle(workflowId).result()) as MaintenanceReport;

    expect(report.cacheRowsDeleted).toBeGreaterThanOrEqual(1);
    expect(report.reservationsDeleted).toBeGreaterThanOrEqual(2);
    expect(report.partitionsDropped).toContain(OLD_MONTH);
    const cache = await stack.db.selectFrom('llm_cache').select('cache_key').where('tenant_id', '=', tenant).execute();
    expect(cache.map((r) => r.cache_key)).toEqual(['live']);
    const reservations = await stack.db.selectFrom('llm_budget_reservations').select('expires_at').where('tenant_id', '=', tenant).execute();
    expect(reservations).toHaveLength(1);
    expect(reservations[0]!.expires_at.getTime()).toBeGreaterThan(Date.now());
    expect(await relationExists(stack.db, OLD_MONTH)).toBe(false);
    // This month and the next two stay or are created.
    const now = new Date();
    for (let i = 0; i < 3; i++) {
      const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
      const suffix = `${month.getUTCFullYear()}${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
      expect(await relationExists(stack.db, `llm_calls_${suffix}`)).toBe(true);
      expect(await relationExists(stack.db, `session_events_${suffix}`)).toBe(true);
    }
  });

  it('is deleted when the interval is 0', async () => {
    expect(await ensureMaintenanceSchedule(stack.temporal, { prefix: prefix(), intervalMs: 0 })).toBe('deleted');
    expect(await ensureMaintenanceSchedule(stack.temporal, { prefix: prefix(), intervalMs: 0 })).toBe('absent');
  });
});

/**
 * Budget reservations in Postgres: `llm_budget_reserve` (0003_router) checks
 * a tenant's day and month spend plus its live reservations under a
 * per-tenant advisory lock, so concurrent calls cannot overshoot a limit.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { budgetPeriods, type BudgetStore, type ReserveResult } from '../router/stores.js';
import type { Db } from './client.js';

interface ReserveRow {
  ok: boolean;
  period: 'day' | 'month' | null;
  limit_usd: string | null;
  spent_usd: string | null;
  reserved_usd: string | null;
  day_left: string | null;
  month_left: string | null;
}

const num = (v: string | null): number | undefined => (v === null ? undefined : Number(v));

/** The router's BudgetStore on Postgres. */
export function postgresBudgets(db: Db): BudgetStore {
  return {
    async reserve(tenantId, amountUsd, limits, ttlSeconds, now = new Date()): Promise<ReserveResult> {
      const { day, month } = budgetPeriods(now);
      const id = randomUUID();
      const { rows } = await sql<ReserveRow>`
        select * from llm_budget_reserve(${id}::uuid, ${tenantId}, ${amountUsd}::numeric, ${day}::date, ${month}::date,
          ${limits.dailyUsd ?? null}::numeric, ${limits.monthlyUsd ?? null}::numeric, ${Math.ceil(ttlSeconds)}::integer)
      `.execute(db);
      const row = rows[0];
      if (!row) throw new Error('llm_budget_reserve returned no row');
      if (!row.ok) {
        return {
          ok: false,
          period: row.period ?? 'day',
          limitUsd: num(row.limit_usd) ?? 0,
          spentUsd: num(row.spent_usd) ?? 0,
          reservedUsd: num(row.reserved_usd) ?? 0,
        };
      }
      return { ok: true, reservation: { id, tenantId, amountUsd, day, month }, remaining: { dayUsd: num(row.day_left), monthUsd: num(row.month_left) } };
    },

    async release(reservation) {
      await db.deleteFrom('llm_budget_reservations').where('id', '=', reservation.id).where('tenant_id', '=', reservation.tenantId).execute();
    },
  };
}

/** A tenant's spend of a UTC day and month (what the budgets count). */
export async function tenantSpend(db: Db, tenantId: string, now = new Date()): Promise<{ dayUsd: number; monthUsd: number }> {
  const { day, month } = budgetPeriods(now);
  const rows = await db
    .selectFrom('llm_budget_usage')
    .select(['period', 'spent_usd'])
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb.and([eb('period', '=', 'day'), eb('period_start', '=', day)]), eb.and([eb('period', '=', 'month'), eb('period_start', '=', month)])]))
    .execute();
  const of = (p: 'day' | 'month') => Number(rows.find((r) => r.period === p)?.spent_usd ?? 0);
  return { dayUsd: of('day'), monthUsd: of('month') };
}

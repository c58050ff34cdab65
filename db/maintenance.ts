/**
 * Housekeeping of the append-heavy and expiring tables, run by the maintenance
 * schedule (workflows/maintenance.ts): monthly partitions created ahead,
 * expired cache rows and budget reservations deleted, and, when a retention is
 * configured, whole months of the cost ledger dropped.
 */
import { sql } from 'kysely';
import type { MaintenanceReport } from '../domain/maintenance-report.js';
import type { Db } from './client.js';
import { ensureMonthlyPartitions, monthStart, monthlyPartitions } from './partitions.js';

export interface MaintenanceOptions {
  readonly now?: Date;
  /** Months of `llm_calls` to keep (the current one included); 0 keeps all. */
  readonly llmCallsRetentionMonths: number;
  /** Rows deleted per statement, so a large backlog never holds long locks. */
  readonly batchSize?: number;
}

async function deleteInBatches(db: Db, table: 'llm_cache' | 'llm_semantic_cache' | 'llm_budget_reservations', now: Date, batchSize: number): Promise<number> {
  let total = 0;
  for (;;) {
    // ctid batches: the tables have different keys, and expires_at is indexed on each.
    const result = await sql`
      delete from ${sql.table(table)} where ctid in (
        select ctid from ${sql.table(table)} where expires_at < ${now} limit ${batchSize}
      )`.execute(db);
    const n = Number(result.numAffectedRows ?? 0n);
    total += n;
    if (n < batchSize) return total;
  }
}

/** Drops the monthly `llm_calls` partitions that end before the retention window starts. */
async function dropOldLedgerMonths(db: Db, now: Date, months: number): Promise<string[]> {
  if (months <= 0) return [];
  const keepFrom = monthStart(now.getUTCFullYear(), now.getUTCMonth() - (months - 1));
  const dropped: string[] = [];
  for (const { name, month } of await monthlyPartitions(db, 'llm_calls')) {
    if (month >= keepFrom) continue;
    await sql`alter table llm_calls detach partition ${sql.table(name)}`.execute(db);
    await sql`drop table ${sql.table(name)}`.execute(db);
    dropped.push(name);
  }
  return dropped.sort();
}

export async function runDbMaintenance(db: Db, options: MaintenanceOptions): Promise<MaintenanceReport> {
  const now = options.now ?? new Date();
  const batchSize = options.batchSize ?? 5_000;
  const partitionsCreated = await ensureMonthlyPartitions(db, now);
  const cacheRowsDeleted = await deleteInBatches(db, 'llm_cache', now, batchSize);
  const semanticCacheRowsDeleted = await deleteInBatches(db, 'llm_semantic_cache', now, batchSize);
  const reservationsDeleted = await deleteInBatches(db, 'llm_budget_reservations', now, batchSize);
  const partitionsDropped = await dropOldLedgerMonths(db, now, options.llmCallsRetentionMonths);
  return { partitionsCreated, cacheRowsDeleted, semanticCacheRowsDeleted, reservationsDeleted, partitionsDropped };
}

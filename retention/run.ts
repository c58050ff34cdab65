/**
 * The retention pass of the maintenance schedule: months past every present
 * tenant's hot window go to the cold tier (retention/archive.ts), cold copies
 * past every present tenant's cold window are deleted, and artifacts past
 * their class expire. A tenant under legal hold stops all three for anything
 * holding its data.
 */
import { listArchivedMonths, markColdCopyExpired } from '../db/archive-catalogue.js';
import type { Db } from '../db/client.js';
import { monthHasRunningSessions, partitionTenants, type MonthUnit } from '../db/cold-months.js';
import { monthlyPartitions } from '../db/partitions.js';
import { monthStart } from '../db/partitions.js';
import { defaultRetention, heldTenants, tenantRetentions, type TenantRetention } from '../db/retention.js';
import type { RetentionConfig } from '../config/retention.js';
import type { ArchivedUnit, ArtifactExpiry, RetentionReport } from '../domain/maintenance-report.js';
import type { ObjectStore } from '../storage/object-store.js';
import { archiveMonthUnits, keysOf } from './archive.js';
import { formatMonth } from './cold-format.js';

/** A month restored on demand stays in Postgres this long before the schedule archives it again. */
export const RESTORED_GRACE_DAYS = 30;

export interface RetentionOptions {
  readonly db: Db;
  readonly store: ObjectStore;
  readonly config: RetentionConfig;
  readonly now: Date;
  readonly partBytes?: number;
  readonly progress?: () => void;
  /** Expires artifacts past their class (db/artifacts.ts expireArtifactRows). */
  readonly expireArtifacts?: (now: Date, held: ReadonlySet<string>) => Promise<ArtifactExpiry>;
}

type Window = 'sessions' | 'ledger';

/** The first month still hot for a set of tenants: the longest hot window among them wins. */
function hotFrom(now: Date, retentions: readonly TenantRetention[], window: Window, fallback: TenantRetention): Date {
  // A month with no rows at all follows the default class.
  const months = Math.max(...(retentions.length ? retentions : [fallback]).map((r) => (window === 'sessions' ? r.retention.sessionsHotMonths : r.retention.ledgerHotMonths)));
  return monthStart(now.getUTCFullYear(), now.getUTCMonth() - (months - 1));
}

/** The first month whose cold copy is still kept, or null when some tenant keeps it forever. */
function coldFrom(now: Date, retentions: readonly TenantRetention[], window: Window): Date | null {
  let months = 0;
  for (const r of retentions) {
    const m = window === 'sessions' ? r.retention.sessionsColdMonths : r.retention.ledgerColdMonths;
    if (m === null) return null;
    months = Math.max(months, m);
  }
  return monthStart(now.getUTCFullYear(), now.getUTCMonth() - (months - 1));
}

export async function runRetention(options: RetentionOptions): Promise<RetentionReport> {
  const { db, config, now } = options;
  const archived: ArchivedUnit[] = [];
  const kept: { table: string; month: string; reason: string }[] = [];
  const held = await heldTenants(db);
  const fallback = defaultRetention(config);
  const catalogue = new Map((await listArchivedMonths(db)).map((r) => [`${r.table}/${r.month}`, r]));

  for (const table of ['session_events', 'llm_calls'] as const) {
    const window: Window = table === 'session_events' ? 'sessions' : 'ledger';
    for (const { name, month } of await monthlyPartitions(db, table)) {
      const to = monthStart(month.getUTCFullYear(), month.getUTCMonth() + 1);
      const label = formatMonth(month);
      const tenants = await partitionTenants(db, name, month, to, table === 'session_events');
      const retentions = [...(await tenantRetentions(db, config, tenants)).values()];
      if (month >= hotFrom(now, retentions, window, fallback)) continue;
      const holders = tenants.filter((t) => held.has(t));
      if (holders.length > 0) {
        kept.push({ table, month: label, reason: `legal_hold: ${holders.join(', ')}` });
        continue;
      }
      const restored = catalogue.get(`${table}/${label}`)?.restoredAt;
      if (restored && now.getTime() - restored.getTime() < RESTORED_GRACE_DAYS * 86_400_000) {
        kept.push({ table, month: label, reason: 'restored_recently' });
        continue;
      }
      const units: MonthUnit[] = [{ table, month, to, relation: name, partitioned: true }];
      if (table === 'session_events') {
        if (await monthHasRunningSessions(db, month, to)) {
          kept.push({ table, month: label, reason: 'sessions_running' });
          continue;
        }
        units.push({ table: 'messages', month, to, relation: 'messages', partitioned: false });
      }
      try {
        archived.push(...(await archiveMonthUnits({ db, store: options.store, now, partBytes: options.partBytes, progress: options.progress }, units)));
      } catch (err) {
        // The rows stay where they were; the next run tries again.
        kept.push({ table, month: label, reason: `archive_failed: ${(err as Error).message}` });
      }
    }
  }

  const coldExpired = await expireColdCopies(options, held, kept);
  return { archived, kept, coldExpired, ...(await expireArtifacts(options, held)) };
}

/** Artifacts past their class, without archiving (RETENTION_ARCHIVE off stops the months, not the artifacts' expiry). */
export async function expireArtifacts(options: Pick<RetentionOptions, 'db' | 'now' | 'expireArtifacts'>, held?: ReadonlySet<string>): Promise<Pick<RetentionReport, 'artifactsExpired' | 'artifacts'>> {
  if (!options.expireArtifacts) return { artifactsExpired: 0 };
  const { rows, ...rest } = await options.expireArtifacts(options.now, held ?? (await heldTenants(options.db)));
  return { artifactsExpired: rows, artifacts: rest };
}

/** Deletes cold copies past every present tenant's cold window (none while one of them is held) and marks them expired. */
async function expireColdCopies(options: RetentionOptions, held: ReadonlySet<string>, kept: { table: string; month: string; reason: string }[]) {
  const { db, config, now } = options;
  const expired: { table: string; month: string }[] = [];
  for (const row of await listArchivedMonths(db)) {
    if (row.state !== 'archived') continue;
    const window: Window = row.table === 'llm_calls' ? 'ledger' : 'sessions';
    const retentions = row.tenants.length ? [...(await tenantRetentions(db, config, row.tenants)).values()] : [defaultRetention(config)];
    const from = coldFrom(now, retentions, window);
    const [year, month] = row.month.split('-').map(Number);
    if (from === null || monthStart(year!, month! - 1) >= from) continue;
    const holders = row.tenants.filter((t) => held.has(t));
    if (holders.length > 0) {
      kept.push({ table: row.table, month: row.month, reason: `legal_hold: ${holders.join(', ')} (cold copy kept)` });
      continue;
    }
    for (const key of keysOf(row.manifest, row.manifestKey)) await options.store.delete(key);
    await markColdCopyExpired(db, row.table, row.month, now);
    expired.push({ table: row.table, month: row.month });
  }
  return expired;
}

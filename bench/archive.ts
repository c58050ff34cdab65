/**
 * `npm run bench -- --only=archive`: archive and restore throughput of one
 * month of generated session events (ARCHIVE_BENCH_ROWS, default 300k rows of
 * ~400 bytes of JSON each) through retention/archive.ts and restore.ts with the
 * local object store, in a scratch database of the Postgres at DATABASE_URL
 * (`eval "$(scripts/provision/postgres.sh)"`). MB/s are of the JSON Lines text
 * (the rows as archived, before gzip); the compressed size is reported too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig, requireDatabaseUrl } from '../config/index.js';
import { createDb } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { ensureMonthlyPartitions } from '../db/partitions.js';
import { archiveMonthUnits } from '../retention/archive.js';
import { restoreMonth } from '../retention/restore.js';
import { LocalObjectStore } from '../storage/local-store.js';

export interface ArchiveBench {
  readonly rows: number;
  readonly sessions: number;
  readonly contentMb: number;
  readonly compressedMb: number;
  readonly archiveSeconds: number;
  readonly restoreSeconds: number;
  readonly archiveMbPerSecond: number;
  readonly restoreMbPerSecond: number;
  readonly identical: boolean;
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export async function benchArchive(rows = 300_000): Promise<ArchiveBench> {
  const adminUrl = requireDatabaseUrl(loadConfig());
  const name = `kortix_bench_archive_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = createDb({ url: url.toString(), applicationName: 'bench-archive' });
  const dir = mkdtempSync(join(tmpdir(), 'kortix-bench-cold-'));
  try {
    await migrateToLatest(db);
    await ensureMonthlyPartitions(db, new Date(Date.UTC(2024, 2, 1)), 1);
    await sql`insert into tenants (id, name) values ('bench', 'bench')`.execute(db);
    const sessions = Math.max(1, Math.floor(rows / 200));
    await sql`
      insert into sessions (id, tenant_id, agent, requester, status, policy_name, policy_hash, created_at, ended_at)
      select 'ses_bench-' || g, 'bench', 'bench', 'alice', 'completed', 'standard', 'h',
             timestamptz '2024-03-01' + (g || ' minutes')::interval, now()
      from generate_series(1, ${sessions}::int) g`.execute(db);
    // Generated in batches: one statement per 50k rows keeps each under the pool's query timeout.
    for (let start = 0; start < rows; start += 50_000) {
      await sql`
        insert into session_events (tenant_id, session_id, session_created_at, seq, idempotency_key, type, data, created_at)
        select 'bench', 'ses_bench-' || s, timestamptz '2024-03-01' + (s || ' minutes')::interval, q, 'k' || q,
               case when q % 5 = 0 then 'tool.result' else 'llm.step' end,
               jsonb_build_object('step', q, 'text', repeat(md5(q::text), 8), 'usage', jsonb_build_object('in', q * 3, 'out', q * 2), 'ok', q % 2 = 0),
               timestamptz '2024-03-01' + (q || ' seconds')::interval
        from generate_series(${start}::int, ${Math.min(rows, start + 50_000) - 1}::int) n,
             lateral (select (n % ${sessions}::int) + 1 as s, n / ${sessions}::int + 1 as q) x`.execute(db);
    }
    await sql`analyze session_events`.execute(db);
    const md5 = async () =>
      (await sql<{ h: string }>`select md5(string_agg(t::text, E'\\n' order by session_id, seq)) as h from session_events t where session_created_at < '2024-04-01'`.execute(db)).rows[0]!.h;
    const before = await md5();
    const store = new LocalObjectStore(dir);
    const month = new Date(Date.UTC(2024, 2, 1));
    const to = new Date(Date.UTC(2024, 3, 1));
    let t = performance.now();
    const archived = await archiveMonthUnits({ db, store, now: new Date() }, [{ table: 'session_events', month, to, relation: 'session_events_202403', partitioned: true }]);
    const archiveSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    await restoreMonth(db, store, '2024-03');
    const restoreSeconds = (performance.now() - t) / 1000;
    const identical = (await md5()) === before;
    const unit = archived[0]!;
    const contentMb = unit.contentBytes / 1_048_576;
    return {
      rows: unit.rows,
      sessions,
      contentMb: round(contentMb),
      compressedMb: round(unit.bytes / 1_048_576),
      archiveSeconds: round(archiveSeconds),
      restoreSeconds: round(restoreSeconds),
      archiveMbPerSecond: round(contentMb / archiveSeconds),
      restoreMbPerSecond: round(contentMb / restoreSeconds),
      identical,
    };
  } finally {
    await db.destroy();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

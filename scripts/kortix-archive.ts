/**
 * The operator's side of retention (`npm run kortix -- archive ...` and
 * `npm run kortix -- retention ...`): talks to Postgres and the object store
 * directly with the deployment's configuration (DATABASE_URL, OBJECT_STORE,
 * ...), as the worker does; no tenant key involved.
 *
 *   archive ls                                  the catalogue: month, table, state, rows, bytes
 *   archive restore <YYYY-MM>                   brings a month back from the cold tier (verified first)
 *   retention show <tenant>
 *   retention set <tenant> <class>              short | standard | long | a class of RETENTION_CLASSES
 *   retention hold <tenant> --reason "<text>"   legal hold: nothing of the tenant is deleted
 *   retention release <tenant>
 *   retention hold <tenant> --session <id> --reason "<text>"   legal hold on one session: its artifacts never expire
 *   retention release <tenant> --session <id>
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, requireDatabaseUrl, type Env } from '../config/index.js';
import { listArchivedMonths } from '../db/archive-catalogue.js';
import { createDb, type Db } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { holdSession, releaseSession, setTenantRetention, tenantRetention, UnknownRetentionClassError, UnknownSessionError, UnknownTenantError, type TenantRetention } from '../db/retention.js';
import { ColdVerificationError } from '../retention/cold-format.js';
import { restoreMonth, RestoreRefusedError } from '../retention/restore.js';
import { sessionIdParams } from '../api/routes/sessions.js';
import { objectStoreFromConfig } from '../storage/from-config.js';

export const ARCHIVE_USAGE = [
  'usage: kortix archive ls | archive restore <YYYY-MM>',
  '       kortix retention show <tenant> | set <tenant> <class> | hold <tenant> [--session <id>] --reason <text> | release <tenant> [--session <id>]',
].join('\n');

export class ArchiveCliError extends Error {}

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(2);

function describe(r: TenantRetention): string {
  const c = r.retention;
  const cold = (m: number | null) => (m === null ? 'forever' : `${m} months`);
  return [
    `${r.tenantId}\tclass ${r.className}${r.legalHold ? `\tLEGAL HOLD: ${r.legalHoldReason ?? ''}` : ''}`,
    `  sessions: ${c.sessionsHotMonths} months hot, cold copy kept ${cold(c.sessionsColdMonths)}`,
    `  ledger:   ${c.ledgerHotMonths} months hot, cold copy kept ${cold(c.ledgerColdMonths)}`,
    `  artifacts: ${c.artifactDays === null ? 'kept until deleted' : `expire after ${c.artifactDays} days`}`,
  ].join('\n');
}

async function archive(db: Db, config: Readonly<Env>, args: string[], print: (line: string) => void): Promise<void> {
  const [command, month, ...extra] = args;
  if (command === 'ls' && !month) {
    const rows = await listArchivedMonths(db);
    if (rows.length === 0) print('no archived months');
    for (const r of rows) print(`${r.month}\t${r.table}\t${r.state}\t${r.rows} rows\t${mb(r.bytes)} MB\t${r.manifestKey}`);
  } else if (command === 'restore' && month && extra.length === 0) {
    const started = performance.now();
    const result = await restoreMonth(db, objectStoreFromConfig(config), month);
    const seconds = (performance.now() - started) / 1000;
    for (const u of result.restored) print(`restored ${u.month} ${u.table}: ${u.rows} rows, ${mb(u.contentBytes)} MB (${mb(u.bytes)} MB compressed) in ${seconds.toFixed(1)} s`);
    for (const table of result.alreadyRestored) print(`${month} ${table}: already restored`);
  } else {
    throw new ArchiveCliError(ARCHIVE_USAGE);
  }
}

async function retention(db: Db, config: Readonly<Env>, args: string[], print: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { reason: { type: 'string' }, session: { type: 'string' } } });
  const [command, tenant, className, ...extra] = positionals;
  const by = `cli:${process.env.USER ?? 'operator'}`;
  if (!tenant || extra.length > 0) throw new ArchiveCliError(ARCHIVE_USAGE);
  if (values.session !== undefined) {
    if (className) throw new ArchiveCliError(ARCHIVE_USAGE);
    if (!sessionIdParams.safeParse({ id: values.session }).success) throw new ArchiveCliError(`--session must be a session id (ses_...), not ${JSON.stringify(values.session)}`);
    if (command === 'hold') {
      if (!values.reason?.trim()) throw new ArchiveCliError('hold needs --reason "<why>" (a case or ticket)');
      const h = await holdSession(db, tenant, values.session, values.reason, by);
      print(`${h.tenantId}\tsession ${h.sessionId}\tLEGAL HOLD: ${h.reason}\t(its artifacts do not expire)`);
    } else if (command === 'release') {
      print(`${tenant}\tsession ${values.session}\t${(await releaseSession(db, tenant, values.session)) ? 'hold released' : 'was not held'}`);
    } else throw new ArchiveCliError(ARCHIVE_USAGE);
    return;
  }
  if (command === 'show' && !className) print(describe(await tenantRetention(db, config, tenant)));
  else if (command === 'set' && className) print(describe(await setTenantRetention(db, config, tenant, { className, by })));
  else if (command === 'hold' && !className) {
    if (!values.reason?.trim()) throw new ArchiveCliError('hold needs --reason "<why>" (a case or ticket)');
    print(describe(await setTenantRetention(db, config, tenant, { legalHold: { on: true, reason: values.reason }, by })));
  } else if (command === 'release' && !className) print(describe(await setTenantRetention(db, config, tenant, { legalHold: { on: false }, by })));
  else throw new ArchiveCliError(ARCHIVE_USAGE);
}

/** Runs `archive ...` or `retention ...`; returns the exit code (1: refused, with the reason on stderr). */
export async function archiveMain(group: 'archive' | 'retention', args: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  let db: Db | undefined;
  try {
    const config = loadConfig(env);
    db = createDb({ url: requireDatabaseUrl(config), applicationName: 'kortix-archive' });
    await migrateToLatest(db);
    if (group === 'archive') await archive(db, config, args, print);
    else await retention(db, config, args, print);
    return 0;
  } catch (err) {
    const known = [ArchiveCliError, RestoreRefusedError, ColdVerificationError, UnknownRetentionClassError, UnknownTenantError, UnknownSessionError, ConfigError];
    if (!known.some((k) => err instanceof k)) throw err;
    process.stderr.write(`${(err as Error).message}\n`);
    return err instanceof ConfigError ? 78 : 1;
  } finally {
    await db?.destroy();
  }
}

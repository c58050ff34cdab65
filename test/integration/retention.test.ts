/**
 * Retention and cold storage on the real stack (Temporal, Postgres, the
 * object store), with the clock set by the test: the maintenance workflow run
 * "in" a later month moves a month of session events and messages to the
 * object store and drops it, the events route answers 410 `archived`,
 * `kortix archive restore` brings it back byte-identical; a corrupt cold
 * object makes the restore refuse, a failed verification keeps the partition,
 * a legal hold keeps partitions and cold copies, a never-archived month is
 * refused with a non-zero exit.
 *
 * The archive-and-restore path runs on both drivers: the local one (a temp
 * directory) and S3 against a real S3-compatible server (gofakes3,
 * test/support/s3-server.ts; it does not verify SigV4 signatures). The other
 * cases flip bytes in the local driver's files and run on it only.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Readable } from 'node:stream';
import { archivedMonth } from '../../db/archive-catalogue.js';
import { relationExists } from '../../db/partitions.js';
import { ColdVerificationError } from '../../retention/cold-format.js';
import { restoreMonth } from '../../retention/restore.js';
import type { RetentionReport } from '../../domain/maintenance-report.js';
import { runRetention } from '../../retention/run.js';
import { objectStoreFromConfig } from '../../storage/from-config.js';
import { LocalObjectStore } from '../../storage/local-store.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { taskQueues } from '../../domain/temporal-names.js';
import { dropMonth, seedMonth, tableMd5 } from '../support/retention-seed.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { runKortix } from '../support/kortix-cli.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
/** The local driver's directory (the local block). */
let objects: string;
const MONTHS = ['2021-02', '2021-03', '2021-04', '2021-05', '2021-06'];

/** The kortix command line on the stack's own environment (the same database and object store). */
const cli = (...argv: string[]) => runKortix(stack.env, argv);

/** Every key in the stack's store (a directory or a bucket of this file's own). */
async function storedKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objectStoreFromConfig(stack.config).list('')) keys.push(o.key);
  return keys;
}

const retentionOf = (now: string, store: ObjectStore = new LocalObjectStore(objects)) =>
  runRetention({ db: stack.db, store, config: stack.config, now: new Date(now), partBytes: 64 * 1024 });

/** The month the archive-and-restore path moves, and the day the maintenance workflow runs "at" (4 months later). */
const CASES = { local: { month: '2021-03', at: '2021-07-15T00:00:00.000Z' }, s3: { month: '2021-02', at: '2021-06-15T00:00:00.000Z' } } as const;

for (const driver of ['local', 's3'] as const) {
  const { month, at } = CASES[driver];
  const suffix = month.replace('-', '');
  describe(`on the ${driver} object store`, () => {
    let s3: S3Server | undefined;
    beforeAll(async () => {
      objects = mkdtempSync(join(tmpdir(), 'kortix-cold-'));
      s3 = driver === 's3' ? await startS3Server('retention') : undefined;
      stack = await startStack(inject('services'), {
        env: { SANDBOX_POOL_MIN_IDLE: '0' },
        objectStore: s3 ?? { kind: 'local', env: { OBJECT_STORE: 'local', OBJECT_STORE_DIR: objects } },
      });
    });
    afterAll(async () => {
      if (stack) for (const m of MONTHS) await dropMonth(stack.db, m);
      await stack?.close();
      await s3?.stop();
      rmSync(objects, { recursive: true, force: true });
    });

    describe('retention through the maintenance workflow', () => {
      it('moves a month past the hot window to the object store; reads say archived; a restore brings it back byte-identical', async () => {
        const ids = await seedMonth(stack.db, stack.tenantId, month, 4, 120);
        const before = await tableMd5(stack.db, month);
        expect(before.count).toBe(480);

        // The real workflow on the stack's worker, run 4 months later: the standard class keeps 3 months hot.
        const report = (await stack.temporal.workflow.execute('maintenance', {
          taskQueue: taskQueues(stack.config.TASK_QUEUE_PREFIX).sessions,
          workflowId: `maintenance-test-${ids[0]}`,
          args: [{ at }],
        })) as { retention: RetentionReport };
        const moved = report.retention.archived.filter((a) => a.month === month);
        expect(moved.map((a) => a.table).sort()).toEqual(['messages', 'session_events']);
        expect(moved.find((a) => a.table === 'session_events')!.rows).toBe(480);
        // The ledger keeps 12 months hot under the same class: its month stays.
        expect(report.retention.archived.some((a) => a.table === 'llm_calls')).toBe(false);

        expect(await relationExists(stack.db, `session_events_${suffix}`)).toBe(false);
        expect(await relationExists(stack.db, `llm_calls_${suffix}`)).toBe(true);
        expect((await tableMd5(stack.db, month)).count).toBe(0);
        const catalogue = await archivedMonth(stack.db, month);
        expect(catalogue.map((r) => [r.table, r.state])).toEqual([['messages', 'archived'], ['session_events', 'archived']]);
        expect(catalogue.find((r) => r.table === 'session_events')!.tenants).toEqual([stack.tenantId]);
        const keys = (await storedKeys());
        // One part per table at the worker's part size (the direct calls below cut parts at 64 KB).
        expect(keys.filter((k) => k.endsWith('.jsonl.gz'))).toHaveLength(2);
        expect(keys.filter((k) => k.endsWith('.manifest.json'))).toHaveLength(2);

        const archived = await stack.api('GET', `/v1/sessions/${ids[0]}/events`);
        expect(archived.status).toBe(410);
        const body = (await archived.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('archived');
        expect(body.error.message).toContain(`npm run kortix -- archive restore ${month}`);
        // Another tenant learns nothing about it.
        expect((await stack.api('GET', `/v1/sessions/${ids[0]}/events`, 'mallory')).status).toBe(404);

        const ls = await cli('archive', 'ls');
        expect(ls.code).toBe(0);
        expect(ls.out).toContain(`${month}\tsession_events\tarchived\t480 rows`);

        const restored = await cli('archive', 'restore', month);
        expect(restored.err).toBe('');
        expect(restored.code).toBe(0);
        expect(restored.out).toContain(`restored ${month} session_events: 480 rows`);
        expect(await tableMd5(stack.db, month)).toEqual(before);
        expect((await archivedMonth(stack.db, month)).every((r) => r.state === 'restored')).toBe(true);

        // The stream works again, from the first event on.
        const res = await stack.api('GET', `/v1/sessions/${ids[0]}/events`);
        expect(res.status).toBe(200);
        const text = await res.text();
        expect(text).toContain('id: 1\n');
        expect(text).toContain('id: 120\n');
        // A second restore changes nothing and says so.
        expect((await cli('archive', 'restore', month)).out).toContain('already restored');
      });
    });

    if (driver === 'local') {
      describe('retention through the maintenance workflow: refusals', () => {
        it('a restore of a month never archived, or of no month at all, fails with a non-zero exit', async () => {
          const never = await cli('archive', 'restore', '2020-01');
          expect(never.code).toBe(1);
          expect(never.err).toContain('2020-01 was never archived');
          for (const bad of ['2021-13', '../2021-03', '2021-03\0', '2021-3']) {
            const r = await cli('archive', 'restore', bad);
            expect(r.code).toBe(1);
            expect(r.err).toContain('month must be YYYY-MM');
          }
          expect((await cli('archive', 'restore')).code).toBe(1);
        });
      });

      describe('nothing is dropped that was not verified; nothing restored that is not what was written', () => {
        it('an archive whose read-back differs leaves the partition, its rows and no objects behind', async () => {
          await seedMonth(stack.db, stack.tenantId, '2021-04', 2, 40);
          const before = await tableMd5(stack.db, '2021-04');
          const good = new LocalObjectStore(objects);
          // A store that loses a bit on the way back: every read is one flipped byte off.
          const flaky: ObjectStore = Object.assign(Object.create(good) as ObjectStore, {
            async get(key: string): Promise<Readable> {
              const { Readable: R } = await import('node:stream');
              const chunks: Buffer[] = [];
              for await (const c of await good.get(key)) chunks.push(c as Buffer);
              const bytes = Buffer.concat(chunks);
              bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
              return R.from([bytes]);
            },
          });
          const filesBefore = (await storedKeys()).length;
          const report = await retentionOf('2021-09-01T00:00:00Z', flaky);
          const kept = report.kept.find((k) => k.month === '2021-04' && k.table === 'session_events');
          expect(kept?.reason).toMatch(/^archive_failed: .*sha256/);
          expect(await relationExists(stack.db, 'session_events_202104')).toBe(true);
          expect(await tableMd5(stack.db, '2021-04')).toEqual(before);
          expect(await archivedMonth(stack.db, '2021-04')).toEqual([]);
          expect((await storedKeys()).length).toBe(filesBefore);
        });

        it('a corrupt cold object (one flipped byte) makes the restore refuse and write nothing', async () => {
          const before = await tableMd5(stack.db, '2021-04');
          const report = await retentionOf('2021-09-01T00:00:00Z');
          expect(report.archived.map((a) => `${a.table}/${a.month}`)).toContain('session_events/2021-04');
          const part = (await storedKeys()).find((f) => f.includes('2021-04/session_events/') && f.endsWith('00001.jsonl.gz'))!;
          const path = join(objects, part, '~object');
          const original = readFileSync(path);
          const corrupt = Buffer.from(original);
          corrupt[corrupt.length >> 1]! ^= 0x40;
          writeFileSync(path, corrupt);

          await expect(restoreMonth(stack.db, new LocalObjectStore(objects), '2021-04')).rejects.toBeInstanceOf(ColdVerificationError);
          const cli1 = await cli('archive', 'restore', '2021-04');
          expect(cli1.code).toBe(1);
          expect(cli1.err).toContain('sha256');
          expect(await relationExists(stack.db, 'session_events_202104')).toBe(false);
          expect((await tableMd5(stack.db, '2021-04')).count).toBe(0);
          expect((await archivedMonth(stack.db, '2021-04')).every((r) => r.state === 'archived')).toBe(true);

          // The same object put back as written restores: the refusal was the flipped byte.
          writeFileSync(path, original);
          expect((await cli('archive', 'restore', '2021-04')).code).toBe(0);
          expect(await tableMd5(stack.db, '2021-04')).toEqual(before);
        });
      });

      describe('legal hold', () => {
        it('keeps a held tenant’s month in Postgres and its cold copies in the store, until released', async () => {
          await seedMonth(stack.db, stack.tenantId, '2021-05', 2, 30);
          const hold = await cli('retention', 'hold', stack.tenantId, '--reason', 'case 42');
          expect(hold.code).toBe(0);
          expect(hold.out).toContain('LEGAL HOLD: case 42');
          expect((await cli('retention', 'hold', stack.tenantId)).code).toBe(1);
          expect((await cli('retention', 'set', stack.tenantId, 'nope')).err).toContain('no retention class nope');
          expect((await cli('retention', 'set', 'no-such-tenant', 'short')).code).toBe(1);

          const held = await retentionOf('2021-12-01T00:00:00Z');
          expect(held.kept).toContainEqual({ table: 'session_events', month: '2021-05', reason: `legal_hold: ${stack.tenantId}` });
          expect(held.archived.filter((a) => a.month === '2021-05')).toEqual([]);
          expect(await relationExists(stack.db, 'session_events_202105')).toBe(true);

          // Archive it (hold lifted), then hold again: the cold copy outlives the cold window while held.
          expect((await cli('retention', 'release', stack.tenantId)).code).toBe(0);
          expect((await cli('retention', 'set', stack.tenantId, 'short')).out).toContain('class short');
          // July: past short's one hot month, well inside its six cold months.
          const moved = await retentionOf('2021-07-01T00:00:00Z');
          expect(moved.coldExpired).toEqual([]);
          expect(moved.archived.map((a) => `${a.table}/${a.month}`), JSON.stringify(moved.kept)).toContain('session_events/2021-05');
          expect((await cli('retention', 'hold', stack.tenantId, '--reason', 'case 43')).code).toBe(0);
          // short keeps cold copies 6 months: by 2022-03 May 2021 is past it.
          const stillHeld = await retentionOf('2022-03-01T00:00:00Z');
          expect(stillHeld.coldExpired.filter((c) => c.month === '2021-05')).toEqual([]);
          expect(stillHeld.kept.some((k) => k.month === '2021-05' && k.reason.startsWith('legal_hold'))).toBe(true);
          expect((await storedKeys()).some((f) => f.includes('2021-05/session_events/'))).toBe(true);

          expect((await cli('retention', 'release', stack.tenantId)).code).toBe(0);
          const expired = await retentionOf('2022-03-01T00:00:00Z');
          expect(expired.coldExpired).toContainEqual({ table: 'session_events', month: '2021-05' });
          const left = await storedKeys();
          expect(left.some((f) => f.includes('2021-05/session_events/') || f.includes('2021-05/messages/'))).toBe(false);
          // The ledger's May went cold at this run too (short keeps 3 ledger months hot) and stays: 24 cold months.
          expect(expired.archived.map((a) => `${a.table}/${a.month}`)).toContain('llm_calls/2021-05');
          expect(left.some((f) => f.includes('2021-05/llm_calls/'))).toBe(true);
          const gone = await cli('archive', 'restore', '2021-05');
          expect(gone.code).toBe(1);
          expect(gone.err).toContain('expired');
          expect((await cli('retention', 'set', stack.tenantId, 'standard')).code).toBe(0);
        });
      });
    }
  });
}

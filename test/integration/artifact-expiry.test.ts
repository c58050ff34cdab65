/**
 * Artifacts past their retention class expire, on the real stack (Temporal,
 * Postgres, Docker, the local object store driver in a temp directory): the
 * maintenance workflow, run "at" a time the test picks, deletes an expired
 * row and the object no live row of the tenant uses any more. Bytes are
 * content-addressed per tenant, so the object of an expired row that a newer
 * session deduplicated onto stays until that row expires too. A legal hold on
 * the tenant or on the session keeps both. The download route then answers
 * 410 `artifact_expired` (404 for another tenant).
 *
 * RETENTION_ARCHIVE is off for this stack: the pass only expires artifacts,
 * so months other test files seed are not archived under them.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setTenantRetention } from '../../db/retention.js';
import type { RetentionReport } from '../../domain/maintenance-report.js';
import { artifactsFromConfig } from '../../storage/from-config.js';
import { taskQueues } from '../../domain/temporal-names.js';
import { json, startSession, waitForStatus, type SessionJson } from '../support/sessions.js';
import { runKortix } from '../support/kortix-cli.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let objects: string;
const DAY = 86_400_000;
const BRIEF = { sessionsHotMonths: 1, sessionsColdMonths: 6, ledgerHotMonths: 3, ledgerColdMonths: 24, artifactDays: 2 };

beforeAll(async () => {
  objects = mkdtempSync(join(tmpdir(), 'kortix-expiry-'));
  stack = await startStack(inject('services'), {
    env: { OBJECT_STORE: 'local', OBJECT_STORE_DIR: objects, SANDBOX_POOL_MIN_IDLE: '0', RETENTION_ARCHIVE: 'false', RETENTION_CLASSES: JSON.stringify({ brief: BRIEF }) },
  });
  await setTenantRetention(stack.db, stack.config, stack.tenantId, { className: 'brief', by: 'test' });
});
afterAll(async () => {
  await stack?.close();
  if (objects) rmSync(objects, { recursive: true, force: true });
});

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const otherTenant = () => `other-${stack.config.TASK_QUEUE_PREFIX}`;

type Report = { retention: RetentionReport };
let runs = 0;
/** The real maintenance workflow on the stack's worker, run as of `at`. */
function maintenanceAt(at: Date): Promise<Report> {
  runs += 1;
  return stack.temporal.workflow.execute('maintenance', {
    taskQueue: taskQueues(stack.config.TASK_QUEUE_PREFIX).sessions,
    workflowId: `maintenance-expiry-${stack.config.TASK_QUEUE_PREFIX}-${runs}`,
    args: [{ at: at.toISOString() }],
  }) as Promise<Report>;
}

async function rowsOf(tenantId: string, sessionId: string, kind?: string) {
  let q = stack.db.selectFrom('artifacts').selectAll().where('tenant_id', '=', tenantId).where('session_id', '=', sessionId);
  if (kind) q = q.where('kind', '=', kind as 'tool_output');
  return q.orderBy('id').execute();
}

const objectThere = async (key: string) => (await stack.artifacts.store.head(key)) !== null;
/**
 * Rows of this test's tenants expired so far (expired_artifacts). The pass is global, and other files share the
 * database: their rows may expire in the same pass (a parked workspace expires once restored), so the report's
 * totals are at least this test's, and its own rows are counted here.
 */
const expiredOfMine = async () =>
  Number(
    (await stack.db.selectFrom('expired_artifacts').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', 'in', [stack.tenantId, otherTenant()]).executeTakeFirstOrThrow()).n,
  );

/** The kortix command line on the stack's own environment (the same database and object store). */
const cli = (...argv: string[]) => runKortix(stack.env, argv);

describe('artifacts past their retention class', () => {
  let a: SessionJson;
  let b: SessionJson;

  it('an expired row and its download go; the object stays while a newer session of the tenant uses the same bytes', async () => {
    // Two sessions of one tenant whose shell printed the same 3 MB: two rows, one object.
    a = await startSession(stack, { message: 'artifact: big output', metadata: { repeat: '1' } });
    expect((await waitForStatus(stack, a.id, undefined, 120_000)).status).toBe('completed');
    b = await startSession(stack, { message: 'artifact: big output', metadata: { repeat: '1' } });
    expect((await waitForStatus(stack, b.id, undefined, 120_000)).status).toBe('completed');
    const [rowA] = await rowsOf(stack.tenantId, a.id, 'tool_output');
    const [rowB] = await rowsOf(stack.tenantId, b.id, 'tool_output');
    expect(rowA && rowB).toBeTruthy();
    expect(rowB!.sha256).toBe(rowA!.sha256);
    expect(rowB!.storage_key).toBe(rowA!.storage_key);
    // Stamped at write with the tenant's class: 2 days.
    expect(rowA!.expires_at!.getTime() - rowA!.created_at.getTime()).toBe(2 * DAY);
    expect(rowB!.expires_at!.getTime()).toBeGreaterThan(rowA!.expires_at!.getTime());
    const downloadA = `/v1/sessions/${a.id}/artifacts/${rowA!.sha256}`;
    const downloadB = `/v1/sessions/${b.id}/artifacts/${rowB!.sha256}`;
    expect((await stack.api('GET', downloadA)).status).toBe(200);

    // One millisecond past A's expiry: before B's.
    const beforeFirst = await expiredOfMine();
    const first = await maintenanceAt(new Date(rowA!.expires_at!.getTime() + 1));
    expect(await expiredOfMine()).toBe(beforeFirst + 1);
    expect(first.retention.artifactsExpired).toBeGreaterThanOrEqual(1);
    expect(await rowsOf(stack.tenantId, a.id, 'tool_output')).toHaveLength(0);
    expect(await rowsOf(stack.tenantId, b.id, 'tool_output')).toHaveLength(1);
    expect(await objectThere(rowA!.storage_key)).toBe(true);

    const gone = await stack.api('GET', downloadA);
    expect(gone.status).toBe(410);
    const body = await json<{ error: { code: string; message: string } }>(gone);
    expect(body.error.code).toBe('artifact_expired');
    expect(body.error.message).toContain('retention class');
    // Another tenant learns nothing; a sha256 that never was an artifact of A is still a 404.
    expect((await stack.api('GET', downloadA, 'mallory')).status).toBe(404);
    expect((await stack.api('GET', `/v1/sessions/${a.id}/artifacts/${sha('never')}`)).status).toBe(404);
    // B still downloads whole: the shared object was not touched.
    const whole = await stack.api('GET', downloadB);
    expect(whole.status).toBe(200);
    expect(sha(Buffer.from(await whole.arrayBuffer()))).toBe(rowB!.sha256);

    // Past B's expiry (and both workspace tarballs'): every row goes, and now the objects too.
    const later = new Date(Math.max(...[...(await rowsOf(stack.tenantId, a.id)), ...(await rowsOf(stack.tenantId, b.id))].map((r) => r.expires_at!.getTime())) + 1);
    const second = await maintenanceAt(later);
    expect(second.retention.artifactsExpired).toBeGreaterThanOrEqual(3);
    expect(second.retention.artifacts!.objects).toBeGreaterThanOrEqual(1);
    expect(second.retention.artifacts!.bytes).toBeGreaterThanOrEqual(Number(rowB!.size_bytes));
    expect(await rowsOf(stack.tenantId, a.id)).toHaveLength(0);
    expect(await rowsOf(stack.tenantId, b.id)).toHaveLength(0);
    expect(await objectThere(rowB!.storage_key)).toBe(false);
    expect((await stack.api('GET', downloadB)).status).toBe(410);
    // The list shows live artifacts only.
    const list = await json<{ data: unknown[] }>(await stack.api('GET', `/v1/sessions/${b.id}/artifacts`));
    expect(list.data).toEqual([]);
  });

  it('a legal hold on the session or on the tenant keeps rows and objects; released, they expire', async () => {
    const c = await startSession(stack, { message: 'hello' });
    await waitForStatus(stack, c.id, undefined, 120_000);
    // Saved "ten days ago" with a clock of the test's: past their 2 days already.
    const past = artifactsFromConfig(stack.config, stack.db, { store: stack.artifacts.store, now: () => new Date(Date.now() - 10 * DAY) });
    const mine = Buffer.from(`held by session ${c.id}\n`);
    const theirs = Buffer.from(`held by tenant ${otherTenant()}\n`);
    const rowC = await past.save({ tenantId: stack.tenantId, sessionId: c.id, ref: 'result:held.txt', kind: 'result', name: 'held.txt', mediaType: 'text/plain' }, mine);
    const rowT = await past.save({ tenantId: otherTenant(), sessionId: 'ses_tenantheld-1', ref: 'result:t.txt', kind: 'result', name: 't.txt', mediaType: 'text/plain' }, theirs);
    expect(rowC.expiresAt!.getTime()).toBeLessThan(Date.now());
    // The other tenant has the default class (90 days) at write: back-date its expiry as its class would have.
    await stack.db.updateTable('artifacts').set({ expires_at: new Date(Date.now() - DAY) }).where('id', '=', rowT.id).execute();

    expect((await cli('retention', 'hold', stack.tenantId, '--session', c.id, '--reason', 'case 42')).code).toBe(0);
    expect((await cli('retention', 'hold', otherTenant(), '--reason', 'case 43')).code).toBe(0);
    // Refused: no such session of the tenant, another tenant's session, a hostile id, no reason.
    const missing = await cli('retention', 'hold', stack.tenantId, '--session', 'ses_00000000-none', '--reason', 'x');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('has no session ses_00000000-none');
    expect((await cli('retention', 'hold', otherTenant(), '--session', c.id, '--reason', 'x')).code).toBe(1);
    for (const bad of [`${c.id}\0`, '../ses_x', 'ses_\uD800aaaaaaaa']) {
      const r = await cli('retention', 'hold', stack.tenantId, '--session', bad, '--reason', 'x');
      expect(r.code).toBe(1);
      expect(r.err).toContain('--session must be a session id');
    }
    expect((await cli('retention', 'hold', stack.tenantId, '--session', c.id)).code).toBe(1);

    const beforeHeld = await expiredOfMine();
    const held = await maintenanceAt(new Date());
    expect(await expiredOfMine()).toBe(beforeHeld);
    expect(held.retention.artifacts!.held).toBeGreaterThanOrEqual(2);
    expect(await objectThere(rowC.storageKey)).toBe(true);
    expect(await objectThere(rowT.storageKey)).toBe(true);
    expect((await stack.api('GET', `/v1/sessions/${c.id}/artifacts/${rowC.sha256}`)).status).toBe(200);

    expect((await cli('retention', 'release', stack.tenantId, '--session', c.id)).out).toContain('hold released');
    expect((await cli('retention', 'release', otherTenant())).code).toBe(0);
    const released = await maintenanceAt(new Date());
    expect(await expiredOfMine()).toBe(beforeHeld + 2);
    expect(released.retention.artifacts!.objects).toBeGreaterThanOrEqual(2);
    expect(released.retention.artifacts!.bytes).toBeGreaterThanOrEqual(mine.length + theirs.length);
    expect(await objectThere(rowC.storageKey)).toBe(false);
    expect(await objectThere(rowT.storageKey)).toBe(false);
    expect((await stack.api('GET', `/v1/sessions/${c.id}/artifacts/${rowC.sha256}`)).status).toBe(410);
  });
});

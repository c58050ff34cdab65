/**
 * Artifacts on the real stack (Temporal, Postgres, Docker): tool output
 * beyond the cap kept whole and paged back by the model, a saved result, the
 * workspace tarball at release downloaded through the API, a follow-up
 * session starting from it, and the refusals (tenant limits, hostile
 * tarballs, another tenant's ids).
 *
 * The stored-and-downloaded paths run twice: on the local driver (a temp
 * directory) and on the S3 driver against a real S3-compatible server
 * (gofakes3, test/support/s3-server.ts), where `?redirect=presigned` answers a
 * URL plain fetch downloads. gofakes3 does not verify SigV4 signatures: that
 * the presigned URL is signed right is not proven here. The refusals run on
 * the local driver only (they do not depend on it).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setTenantLimits } from '../../db/tenant-limits.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { startStack, type Stack } from '../support/stack.js';
import { json, startSession, toolResults, waitForStatus, type SessionJson } from '../support/sessions.js';

let stack: Stack;
/** Set while the S3 driver's block runs. */
let s3: S3Server | undefined;

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const seq = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `${i + 1}\n`).join(''));

interface ArtifactView {
  sha256: string;
  kind: string;
  name: string;
  sizeBytes: number;
  mediaType: string;
  download: string;
}

async function artifactsOf(id: string, who: 'alice' | 'mallory' = 'alice'): Promise<ArtifactView[]> {
  const res = await stack.api('GET', `/v1/sessions/${id}/artifacts`, who);
  expect(res.status).toBe(200);
  return (await json<{ data: ArtifactView[] }>(res)).data;
}

async function download(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await stack.api('GET', path, 'alice', undefined, headers);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

async function untar(archive: Buffer): Promise<Map<string, { type: string; body: Buffer; linkname?: string }>> {
  const extract = tar.extract();
  const found = new Map<string, { type: string; body: Buffer; linkname?: string }>();
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      found.set(entry.header.name, { type: entry.header.type, body: Buffer.concat(chunks), ...(entry.header.linkname ? { linkname: entry.header.linkname } : {}) });
    }
  })();
  Readable.from([archive]).pipe(extract);
  await reading;
  return found;
}

for (const driver of ['local', 's3'] as const) {
  describe(`on the ${driver} object store`, () => {
    beforeAll(async () => {
      s3 = driver === 's3' ? await startS3Server('artifacts') : undefined;
      stack = await startStack(inject('services'), s3 ? { objectStore: s3 } : {});
    });
    afterAll(async () => {
      await stack?.close();
      await s3?.stop();
      s3 = undefined;
    });

    describe('tool output beyond the cap', () => {
      const expected = seq(450_000);
      let session: SessionJson;
      let results: Record<string, unknown>[];

      it('gives the model the head, the tail and a reference; read_artifact pages it back byte-exact', async () => {
        expect(expected.length).toBeGreaterThan(3_000_000);
        session = await startSession(stack, { message: 'artifact: big output', metadata: { repeat: '2' } });
        const done = await waitForStatus(stack, session.id, undefined, 120_000);
        expect(done.status).toBe('completed');
        results = await toolResults(stack, session.id);
        const shell = results[0] as Record<string, unknown>;
        const limit = stack.config.SANDBOX_OUTPUT_LIMIT_BYTES;
        expect(shell).toMatchObject({ ok: true, exit_code: 0, truncated: true });
        expect(shell.stdout_artifact).toMatchObject({ sha256: sha(expected), bytes: expected.length, complete: true });
        const head = String(shell.stdout);
        const tail = String(shell.stdout_tail);
        expect(expected.subarray(0, Buffer.byteLength(head)).toString()).toBe(head);
        expect(expected.subarray(expected.length - Buffer.byteLength(tail)).toString()).toBe(tail);
        expect(Buffer.byteLength(head) + Buffer.byteLength(tail)).toBeLessThanOrEqual(limit);
        expect(tail.endsWith('450000\n')).toBe(true);
        // What Postgres holds of the call is about the cap, not the 3 MB.
        expect(JSON.stringify(shell).length).toBeLessThan(limit * 2);

        const pages = results.slice(1) as Array<{ ok: boolean; offset: number; length: number; content: string; next_offset: number | null; total_bytes: number }>;
        expect(pages).toHaveLength(3);
        let offset = 0;
        for (const page of pages) {
          expect(page).toMatchObject({ ok: true, offset, total_bytes: expected.length });
          expect(Buffer.from(page.content)).toEqual(expected.subarray(offset, offset + page.length));
          offset += page.length;
          expect(page.next_offset).toBe(offset);
        }
        expect(offset).toBe(3 * 65_536);
      });

      it('is listed and downloadable whole or by range, only by its tenant', async () => {
        const list = await artifactsOf(session.id);
        const out = list.find((a) => a.kind === 'tool_output');
        expect(out).toMatchObject({ sha256: sha(expected), sizeBytes: expected.length, });
        expect(out?.name).toMatch(/^stdout of tool call \d+$/);
        const whole = await download(out!.download);
        expect(whole.status).toBe(200);
        expect(sha(whole.body)).toBe(sha(expected));
        const part = await download(out!.download, { range: 'bytes=10-29' });
        expect(part.status).toBe(206);
        expect(part.headers.get('content-range')).toBe(`bytes 10-29/${expected.length}`);
        expect(part.body).toEqual(expected.subarray(10, 30));
        expect((await download(out!.download, { range: `bytes=${expected.length}-` })).status).toBe(416);
        const presigned = await download(`${out!.download}?redirect=presigned`);
        if (driver === 'local') {
          // The local driver has no presigned URLs: said so, not a broken redirect.
          expect(presigned.status).toBe(409);
        } else {
          // A URL of the S3 server itself (not the API) that plain fetch downloads: the bytes are in the bucket.
          expect(presigned.status).toBe(302);
          const location = presigned.headers.get('location') ?? '';
          expect(location.startsWith(`${s3!.endpoint}/${s3!.bucket}/tenants/${stack.tenantId}/sha256/${sha(expected)}?`)).toBe(true);
          const direct = await fetch(location);
          expect(direct.status).toBe(200);
          expect(sha(Buffer.from(await direct.arrayBuffer()))).toBe(sha(expected));
        }

        const mallory = await stack.api('GET', `/v1/sessions/${session.id}/artifacts`, 'mallory');
        expect(mallory.status).toBe(404);
        expect((await stack.api('GET', out!.download, 'mallory')).status).toBe(404);
        // A sha256 the session does not have, and one that is no sha256.
        expect((await download(`/v1/sessions/${session.id}/artifacts/${'0'.repeat(64)}`)).status).toBe(404);
        const bad = await stack.api('GET', `/v1/sessions/${session.id}/artifacts/..%2F..%2Fetc`);
        expect(bad.status).toBe(400);
      });
    });

    describe('results and the workspace', () => {
      let first: SessionJson;

      it('keeps a saved result and the workspace tarball at release, downloadable after the session ended', async () => {
        first = await startSession(stack, { message: 'artifact: make files' });
        expect((await waitForStatus(stack, first.id, undefined, 90_000)).status).toBe('completed');
        const [, saved] = await toolResults(stack, first.id);
        expect(saved).toMatchObject({ ok: true, path: 'out/a.txt', sha256: sha('hello result'), bytes: 12, media_type: 'text/plain' });
        const list = await artifactsOf(first.id);
        expect(list.map((a) => a.kind).sort()).toEqual(['result', 'workspace']);
        const result = list.find((a) => a.kind === 'result');
        expect((await download(result!.download)).body.toString()).toBe('hello result');

        const workspace = list.find((a) => a.kind === 'workspace');
        expect(workspace).toMatchObject({ name: 'workspace.tar', mediaType: 'application/x-tar' });
        const tarball = await download(workspace!.download);
        expect(tarball.status).toBe(200);
        expect(sha(tarball.body)).toBe(workspace!.sha256);
        const files = await untar(tarball.body);
        expect(files.get('workspace/out/a.txt')?.body.toString()).toBe('hello result');
        expect(files.get('workspace/out/seq.txt')?.body).toEqual(seq(20_000));
        expect(files.get('workspace/out/link')).toMatchObject({ type: 'symlink', linkname: 'a.txt' });
        if (s3) {
          // Stored in the bucket under the tenant's key, as the API's listing says.
          const inBucket = s3.store();
          try {
            expect(await inBucket.head(`tenants/${stack.tenantId}/sha256/${workspace!.sha256}`)).toMatchObject({ size: workspace!.sizeBytes, sha256: workspace!.sha256 });
          } finally {
            inBucket.destroy();
          }
          const presigned = await download(`${workspace!.download}?redirect=presigned`);
          expect(presigned.status).toBe(302);
          const direct = await fetch(presigned.headers.get('location') ?? '');
          expect(sha(Buffer.from(await direct.arrayBuffer()))).toBe(workspace!.sha256);
        }
      });

      it('starts a follow-up session from it (fromSession): the files, the link, in the new sandbox', async () => {
        const next = await startSession(stack, { message: 'artifact: continue', fromSession: first.id });
        const done = await waitForStatus(stack, next.id, undefined, 90_000);
        expect(done.status).toBe('completed');
        const [shell] = await toolResults(stack, next.id);
        expect(shell).toMatchObject({ ok: true, exit_code: 0, stdout: 'hello result\n20000\na.txt\n' });
      });

      it('refuses fromSession of another tenant, of an unknown session, or with a NUL byte, naming the field', async () => {
        const mallory = await stack.api('POST', '/v1/sessions', 'mallory', { message: 'artifact: continue', fromSession: first.id });
        expect(mallory.status).toBe(400);
        expect(await json(mallory)).toMatchObject({ error: { code: 'unknown_from_session', fields: [{ path: 'body.fromSession' }] } });
        const unknown = await stack.api('POST', '/v1/sessions', 'alice', { message: 'x', fromSession: 'ses_00000000-0000-0000-0000-000000000000' });
        expect((await json<{ error: { code: string } }>(unknown)).error.code).toBe('unknown_from_session');
        const nul = await stack.api('POST', '/v1/sessions', 'alice', { message: 'x', fromSession: `${first.id}\u0000` });
        expect(nul.status).toBe(400);
        expect(JSON.stringify(await json(nul))).toContain('body.fromSession');
      });
    });

    if (driver === 'local') {
      describe('hostile workspace tarballs on the restore path', () => {
        /** A session of this tenant whose stored workspace is `archive` (as if its sandbox had left it). */
        async function sourceWith(archive: Buffer): Promise<string> {
          const id = `ses_${sha(archive).slice(0, 8)}-0000-4000-8000-000000000000`;
          await stack.artifacts.save({ tenantId: stack.tenantId, sessionId: id, ref: 'workspace', kind: 'workspace', name: 'workspace.tar', mediaType: 'application/x-tar' }, archive);
          return id;
        }
        async function tarOf(entries: Array<{ name: string; type?: 'file' | 'symlink' | 'link' | 'character-device'; body?: string; linkname?: string }>): Promise<Buffer> {
          const pack = tar.pack();
          const collected = buffer(pack);
          for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', ...(e.linkname ? { linkname: e.linkname } : {}) }, e.body ?? '');
          pack.finalize();
          return collected;
        }

        for (const [what, entries, reason] of [
          ['a .. path', [{ name: 'workspace/../../tmp/evil', body: 'x' }], /"\.\." in the path/],
          ['a symbolic link out, then a file through it', [{ name: 'workspace/etc', type: 'symlink', linkname: '/etc' }, { name: 'workspace/etc/cron', body: 'x' }], /points outside/],
          ['a device file', [{ name: 'workspace/null', type: 'character-device' }], /character-device/],
        ] as const) {
          it(`fails the session, saying why, for ${what}; nothing is unpacked`, async () => {
            const from = await sourceWith(await tarOf([...entries]));
            const session = await startSession(stack, { message: 'artifact: continue', fromSession: from });
            const done = await waitForStatus(stack, session.id, undefined, 90_000);
            expect(done.status).toBe('failed');
            expect(String(done.error)).toMatch(reason);
            expect(String(done.error)).toContain('cannot be restored');
          });
        }
      });

      describe("the tenant's artifact limits", () => {
        it('refuses a result over the per-artifact limit: a clear tool error, no row, no object', async () => {
          await setTenantLimits(stack.db, stack.tenantId, { artifactBytes: 100_000 });
          try {
            const session = await startSession(stack, { message: 'artifact: save' });
            expect((await waitForStatus(stack, session.id, undefined, 90_000)).status).toBe('completed');
            const [, saved] = await toolResults(stack, session.id);
            expect(saved).toMatchObject({ ok: false, code: 'artifact_too_large', path: 'big.txt' });
            expect(String(saved?.error)).toContain('100000');
            const rows = (await artifactsOf(session.id)).filter((a) => a.kind === 'result');
            expect(rows).toEqual([]);
            const bigSha = sha(seq(30_000));
            expect(await stack.artifacts.store.head(`tenants/${stack.tenantId}/sha256/${bigSha}`)).toBeNull();
          } finally {
            await setTenantLimits(stack.db, stack.tenantId, { artifactBytes: null });
          }
        });

        it('refuses a result that would take the tenant over its total', async () => {
          const row = await stack.db.selectFrom('artifacts').select((eb) => eb.fn.sum<string>('size_bytes').as('s')).where('tenant_id', '=', stack.tenantId).executeTakeFirst();
          const used = Number(row?.s ?? 0);
          await setTenantLimits(stack.db, stack.tenantId, { artifactTotalBytes: used + 1000 });
          try {
            const session = await startSession(stack, { message: 'artifact: save' });
            expect((await waitForStatus(stack, session.id, undefined, 90_000)).status).toBe('completed');
            const [, saved] = await toolResults(stack, session.id);
            expect(saved).toMatchObject({ ok: false, code: 'artifact_quota_exceeded' });
          } finally {
            await setTenantLimits(stack.db, stack.tenantId, { artifactTotalBytes: null });
          }
        });
      });
    }
  });
}

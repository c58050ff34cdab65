/**
 * The S3 driver of the object store (storage/s3-store.ts) against a real
 * S3-compatible HTTP server started for this file: gofakes3 v1.2.0, built
 * from the Go module proxy by scripts/provision/s3.sh (or the user's own
 * server when S3_ENDPOINT is set). Path-style requests, ranges, multipart
 * uploads, user metadata, listing, presigned URLs and a missing bucket are
 * answered by that server, not by a mock.
 *
 * What this does NOT prove: gofakes3 does not verify SigV4 signatures (nor a
 * presigned URL's expiry), so nothing here shows that wrong credentials or a
 * tampered presigned URL are refused. The presigned test shows the URL
 * addresses the object and downloads it without any other header.
 *
 * The end-to-end paths over S3 (artifacts through the API, a retention month
 * archived and restored) are in artifacts.test.ts and retention.test.ts,
 * which run for both drivers.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ListMultipartUploadsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, loadConfig, REPO_ROOT } from '../../config/index.js';
import { checkObjectStore, objectStoreFromConfig } from '../../storage/from-config.js';
import { InvalidObjectKeyError, ObjectChecksumMismatchError, ObjectNotFoundError, ObjectRangeError, type ObjectInfo } from '../../storage/object-store.js';
import type { S3ObjectStore } from '../../storage/s3-store.js';
import { freePort } from '../../temporal/dev-server.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { stackEnv } from '../support/stack.js';

let server: S3Server;
let store: S3ObjectStore;
/** Every request the driver sent: the SDK command and its HTTP headers, as they left. */
const sent: Array<{ command: string; headers: Record<string, string> }> = [];
/** Under a prefix of its own: a user's own server (S3_ENDPOINT) may hold other things. */
const base = `s3-store-test/${randomUUID()}`;

beforeAll(async () => {
  server = await startS3Server('s3store');
  store = server.store({ partSizeBytes: 5 * 1024 * 1024 });
  record(store.client, sent);
});
afterAll(async () => {
  if (store) {
    for await (const o of store.list(`${base}/`)) await store.delete(o.key);
    store.destroy();
  }
  await server?.stop();
});

function record(client: S3Client, into: typeof sent, stop = false): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = (args as { request?: { headers?: Record<string, string> } }).request;
      into.push({ command: context.commandName ?? '?', headers: { ...request?.headers } });
      if (stop) throw new Error('stopped before sending');
      return next(args);
    },
    { step: 'finalizeRequest', name: 'kortixTestRecorder', priority: 'low' },
  );
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const key = (name: string) => `${base}/${name}`;

async function keysUnder(prefix: string): Promise<ObjectInfo[]> {
  const found: ObjectInfo[] = [];
  for await (const o of store.list(prefix)) found.push(o);
  return found.sort((a, b) => a.key.localeCompare(b.key));
}

/** `total` pseudo-random bytes in 1 MiB chunks, produced as they are read (never one buffer), and their sha256. */
function streamed(total: number): { body: Readable; sha256: Promise<string> } {
  const hash = createHash('sha256');
  let left = total;
  let resolveSha: (s: string) => void = () => {};
  const sha256 = new Promise<string>((r) => (resolveSha = r));
  const body = new Readable({
    read() {
      if (left === 0) {
        resolveSha(hash.digest('hex'));
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(left, 1024 * 1024));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { body, sha256 };
}

describe('S3 driver on a real S3-compatible server', () => {
  it('puts, heads, gets and deletes an object, with the sha256 as written kept in its metadata', async () => {
    const body = Buffer.from('hello, S3 \u0000 ünïcödé 😀\n'.repeat(500));
    const info = await store.put(key('a.txt'), body, { contentType: 'text/plain; charset=utf-8' });
    expect(info).toEqual({ key: key('a.txt'), size: body.length, sha256: sha(body), contentType: 'text/plain; charset=utf-8' });
    expect(await store.head(key('a.txt'))).toEqual({ key: key('a.txt'), size: body.length, sha256: sha(body), contentType: 'text/plain; charset=utf-8' });
    expect(await buffer(await store.get(key('a.txt')))).toEqual(body);

    await store.delete(key('a.txt'));
    expect(await store.head(key('a.txt'))).toBeNull();
    // Deleting what is not there is not an error.
    await store.delete(key('a.txt'));
  });

  it('reads byte ranges: inclusive end, open end, and refuses one outside the object', async () => {
    const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    await store.put(key('range.bin'), body);
    expect(await buffer(await store.get(key('range.bin'), { start: 10, end: 29 }))).toEqual(body.subarray(10, 30));
    expect(await buffer(await store.get(key('range.bin'), { start: 990 }))).toEqual(body.subarray(990));
    expect(await buffer(await store.get(key('range.bin'), { start: 0, end: 0 }))).toEqual(body.subarray(0, 1));
    await expect(store.get(key('range.bin'), { start: 1000 })).rejects.toBeInstanceOf(ObjectRangeError);
    // Refused before a request: a negative start, an end before the start.
    const before = sent.length;
    await expect(store.get(key('range.bin'), { start: -1 })).rejects.toBeInstanceOf(ObjectRangeError);
    await expect(store.get(key('range.bin'), { start: 5, end: 4 })).rejects.toBeInstanceOf(ObjectRangeError);
    expect(sent.length).toBe(before);
  });

  it('uploads 20 MB streamed in 5 MiB parts (multipart), hashing it on the way; it reads back identical', async () => {
    const total = 20 * 1024 * 1024 + 12_345;
    const { body, sha256 } = streamed(total);
    const from = sent.length;
    const info = await store.put(key('big.bin'), body, { contentType: 'application/octet-stream' });
    expect(info.size).toBe(total);
    expect(info.sha256).toBe(await sha256);
    const commands = sent.slice(from).map((s) => s.command);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(5);
    expect(commands).toContain('CreateMultipartUploadCommand');
    expect(commands).toContain('CompleteMultipartUploadCommand');
    expect(commands).not.toContain('PutObjectCommand');

    expect((await store.head(key('big.bin')))?.size).toBe(total);
    const back = createHash('sha256');
    let size = 0;
    for await (const chunk of await store.get(key('big.bin'))) {
      back.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    expect(size).toBe(total);
    expect(back.digest('hex')).toBe(info.sha256);
    // A range across the boundary of parts 1 and 2 comes from the assembled object.
    const edge = await buffer(await store.get(key('big.bin'), { start: 5 * 1024 * 1024 - 3, end: 5 * 1024 * 1024 + 2 }));
    expect(edge).toHaveLength(6);
  });

  it('a streamed put whose bytes miss expectSha256 fails and leaves nothing: no object, no open multipart upload', async () => {
    const { body } = streamed(11 * 1024 * 1024);
    await expect(store.put(key('wrong.bin'), body, { expectSha256: '0'.repeat(64) })).rejects.toBeInstanceOf(ObjectChecksumMismatchError);
    expect(await store.head(key('wrong.bin'))).toBeNull();
    const open = await store.client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: base }));
    expect(open.Uploads ?? []).toEqual([]);
    // A buffer is hashed before it leaves: not one request.
    const before = sent.length;
    await expect(store.put(key('wrong.txt'), Buffer.from('x'), { expectSha256: sha('y') })).rejects.toBeInstanceOf(ObjectChecksumMismatchError);
    expect(sent.length).toBe(before);
    // The right one is taken and recorded.
    const expected = randomBytes(1000);
    expect((await store.put(key('right.bin'), Readable.from([expected]), { expectSha256: sha(expected) })).sha256).toBe(sha(expected));
    expect((await store.head(key('right.bin')))?.sha256).toBe(sha(expected));
  });

  it('sends no SDK checksums (WHEN_REQUIRED), which the SDK would add by default, and the server takes the writes', async () => {
    const from = sent.length;
    await store.put(key('plain.txt'), Buffer.from('no trailers'));
    const put = sent.slice(from).find((s) => s.command === 'PutObjectCommand');
    expect(put).toBeDefined();
    const checksumHeaders = (h: Record<string, string>) =>
      Object.entries(h).filter(([n, v]) => n.toLowerCase().startsWith('x-amz-checksum-') || n.toLowerCase() === 'x-amz-sdk-checksum-algorithm' || n.toLowerCase() === 'x-amz-trailer' || /aws-chunked/.test(v));
    expect(checksumHeaders(put!.headers)).toEqual([]);
    expect(sent.filter((s) => s.command === 'UploadPartCommand').flatMap((s) => checksumHeaders(s.headers))).toEqual([]);
    expect(await buffer(await store.get(key('plain.txt')))).toEqual(Buffer.from('no trailers'));

    // The same request from a client on the SDK's defaults carries a checksum (stopped before it leaves):
    // without the option, that is what every S3-compatible server would get.
    const defaults = new S3Client({ region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
    const seen: typeof sent = [];
    record(defaults, seen, true);
    await expect(defaults.send(new PutObjectCommand({ Bucket: server.bucket, Key: key('never.txt'), Body: 'no trailers' }))).rejects.toThrow('stopped before sending');
    defaults.destroy();
    expect(checksumHeaders(seen[0]!.headers).length).toBeGreaterThan(0);
  });

  it('presigns a GET that plain fetch downloads (whole and by range) with no other header', async () => {
    const body = randomBytes(70_000);
    await store.put(key('dir/presigned.bin'), body);
    const url = await store.presignGet(key('dir/presigned.bin'), 60);
    expect(url).not.toBeNull();
    const u = new URL(url!);
    // Path style, on the configured endpoint; a SigV4 query signature for 60 s (gofakes3 does not check it).
    expect(`${u.origin}${u.pathname}`).toBe(`${server.endpoint}/${server.bucket}/${key('dir/presigned.bin')}`);
    expect(u.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(u.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(u.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    const whole = await fetch(url!);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(body);
    const part = await fetch(url!, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(body.subarray(100, 200));
    const missing = await fetch((await store.presignGet(key('dir/absent.bin'), 60))!);
    expect(missing.status).toBe(404);
  });

  it('lists the objects under a prefix, with their sizes, and nothing else', async () => {
    await store.put(key('list/one'), Buffer.from('1'));
    await store.put(key('list/two'), Buffer.from('22'));
    await store.put(key('list/sub/three'), Buffer.from('333'));
    await store.put(key('listing-not'), Buffer.from('x'));
    expect((await keysUnder(key('list/'))).map((o) => [o.key, o.size])).toEqual([
      [key('list/one'), 1],
      [key('list/sub/three'), 3],
      [key('list/two'), 2],
    ]);
  });

  it('refuses keys with .., NUL, a leading / or empty segments before anything reaches the server', async () => {
    const before = sent.length;
    for (const bad of ['a/../b', '../etc/passwd', '..', 'a/./b', 'a\u0000b', '/abs', 'a//b', '', 'x'.repeat(1025)]) {
      await expect(store.put(bad, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidObjectKeyError);
      await expect(store.put(bad, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(InvalidObjectKeyError);
      await expect(store.get(bad)).rejects.toBeInstanceOf(InvalidObjectKeyError);
      await expect(store.head(bad)).rejects.toBeInstanceOf(InvalidObjectKeyError);
      await expect(store.delete(bad)).rejects.toBeInstanceOf(InvalidObjectKeyError);
      await expect(store.presignGet(bad, 60)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    }
    expect(sent.slice(before)).toEqual([]);
  });

  it('a missing object is a not-found error naming the key (get), null (head)', async () => {
    const err = await store.get(key('nope/absent')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectNotFoundError);
    expect((err as Error).message).toBe(`object ${key('nope/absent')} not found`);
    expect(await store.head(key('nope/absent'))).toBeNull();
  });
});

describe('the configured store at startup (storage/from-config.ts)', () => {
  const envOf = (over: Record<string, string>) => loadConfig({ KORTIX_ENV: 'test', ...server.env, ...over });

  it('checks the bucket of a good configuration', async () => {
    const config = envOf({});
    const configured = objectStoreFromConfig(config);
    expect(configured.kind).toBe('s3');
    await checkObjectStore(configured, config);
    // The configured driver reads what this file's store wrote: the same bucket, through the variables.
    await store.put(key('via-config.txt'), Buffer.from('same bucket'));
    expect(await buffer(await configured.get(key('via-config.txt')))).toEqual(Buffer.from('same bucket'));
  });

  it('a bucket that does not exist fails the start, naming S3_BUCKET and the endpoint', async () => {
    const config = envOf({ S3_BUCKET: 'kortix-no-such-bucket' });
    await expect(checkObjectStore(objectStoreFromConfig(config), config)).rejects.toThrow(
      `S3_BUCKET: the bucket kortix-no-such-bucket does not exist at ${server.endpoint}; create it, or set S3_BUCKET to one that does`,
    );
  });

  it('the API process (api/main.ts) exits at start on that bucket, saying S3_BUCKET', async () => {
    const env = stackEnv(inject('services'), `t${randomUUID().slice(0, 8)}`, { ...server.env, S3_BUCKET: 'kortix-no-such-bucket', API_PORT: '0' });
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (c: Buffer) => {
      output += c.toString('utf8');
      // Started anyway: the check is missing; stop it rather than wait for the timeout.
      if (output.includes('api listening')) child.kill('SIGKILL');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code, output).toBe(1);
    expect(output).toContain('api failed to start');
    expect(output).toContain('S3_BUCKET: the bucket kortix-no-such-bucket does not exist');
    expect(output).not.toContain('api listening');
  }, 90_000);

  it('an endpoint nobody answers on fails the start naming S3_ENDPOINT; no bucket at all is a configuration error', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const config = envOf({ S3_ENDPOINT: closed });
    await expect(checkObjectStore(objectStoreFromConfig(config), config)).rejects.toThrow(new RegExp(`^S3_ENDPOINT: the object store at ${closed} did not answer`));
    const noBucket = Object.fromEntries(Object.entries(server.env).filter(([name]) => name !== 'S3_BUCKET'));
    expect(() => loadConfig({ KORTIX_ENV: 'test', ...noBucket })).toThrow(ConfigError);
    expect(() => loadConfig({ KORTIX_ENV: 'test', ...noBucket })).toThrow('S3_BUCKET: required with OBJECT_STORE=s3');
  });
});

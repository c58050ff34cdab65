/** The directory driver of the object store (storage/local-store.ts): atomic puts, sha256, ranges, keys refused. */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalObjectStore } from '../../storage/local-store.js';
import {
  InvalidObjectKeyError,
  ObjectChecksumMismatchError,
  ObjectNotFoundError,
  ObjectRangeError,
  type ObjectInfo,
} from '../../storage/object-store.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function all(it: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of it) keys.push(info.key);
  return keys;
}

describe('LocalObjectStore', () => {
  let dir: string;
  let store: LocalObjectStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kortix-objects-'));
    store = new LocalObjectStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('puts a buffer and a stream, hashing what it wrote, and reads them back whole and by range', async () => {
    const body = Buffer.from('hello, object store\n'.repeat(1000));
    const info = await store.put('tenants/t1/sha256/abc', body, { contentType: 'text/plain' });
    expect(info).toEqual({ key: 'tenants/t1/sha256/abc', size: body.length, sha256: sha(body), contentType: 'text/plain' });
    expect(await store.head('tenants/t1/sha256/abc')).toEqual(info);
    expect(await text(await store.get('tenants/t1/sha256/abc'))).toBe(body.toString());
    expect(await text(await store.get('tenants/t1/sha256/abc', { start: 7, end: 18 }))).toBe('object store');
    expect(await text(await store.get('tenants/t1/sha256/abc', { start: body.length - 3 }))).toBe('re\n');
    // An end past the object is cut at its last byte, as S3 does.
    expect(await text(await store.get('tenants/t1/sha256/abc', { start: body.length - 1, end: body.length + 100 }))).toBe('\n');

    const streamed = await store.put('s', Readable.from(['a', 'b', 'c'].map((s) => Buffer.from(s))));
    expect(streamed).toMatchObject({ size: 3, sha256: sha('abc') });
  });

  it('refuses a range outside the object', async () => {
    await store.put('k', Buffer.from('12345'));
    await expect(store.get('k', { start: 5 })).rejects.toBeInstanceOf(ObjectRangeError);
    await expect(store.get('k', { start: 3, end: 2 })).rejects.toBeInstanceOf(ObjectRangeError);
    await expect(store.get('k', { start: -1 })).rejects.toBeInstanceOf(ObjectRangeError);
  });

  it('says absent as absent', async () => {
    await expect(store.get('nope')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await store.head('nope')).toBeNull();
    await store.delete('nope');
  });

  it('refuses a put whose bytes do not hash as expected and leaves nothing, not even a temp file', async () => {
    await expect(store.put('k', Buffer.from('real'), { expectSha256: sha('other') })).rejects.toBeInstanceOf(ObjectChecksumMismatchError);
    expect(await store.head('k')).toBeNull();
    expect(await readdir(join(dir, '~tmp'))).toEqual([]);
    // A failing source stream leaves nothing either.
    const failing = new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
    await expect(store.put('k2', failing)).rejects.toThrow('source broke');
    expect(await store.head('k2')).toBeNull();
    expect(await readdir(join(dir, '~tmp'))).toEqual([]);
  });

  it('refuses keys that are paths: .., absolute, NUL, empty segments', async () => {
    for (const key of ['../escape', 'a/../../b', '/abs', 'a\0b', 'a//b', 'a/./b', '', 'x'.repeat(1025)]) {
      await expect(store.put(key, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidObjectKeyError);
      await expect(store.get(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    }
  });

  it('lets a key be an object and the prefix of others, keeps reserved names apart, lists by prefix', async () => {
    await store.put('a', Buffer.from('1'));
    await store.put('a/b', Buffer.from('2'));
    await store.put('a/~object', Buffer.from('3'));
    await store.put('a/bc/d', Buffer.from('4'));
    await store.put('ab', Buffer.from('5'));
    expect(await text(await store.get('a'))).toBe('1');
    expect(await text(await store.get('a/~object'))).toBe('3');
    expect(await all(store.list('a/'))).toEqual(['a/b', 'a/bc/d', 'a/~object']);
    expect(await all(store.list('a/b'))).toEqual(['a/b', 'a/bc/d']);
    expect(await all(store.list('a'))).toEqual(['a', 'a/b', 'a/bc/d', 'a/~object', 'ab']);
    expect(await all(store.list(''))).toEqual(['a', 'a/b', 'a/bc/d', 'a/~object', 'ab']);
    await store.delete('a/bc/d');
    expect(await readdir(join(dir, 'a'))).not.toContain('bc');
    expect(await text(await store.get('a'))).toBe('1');
    await store.check();
  });

  it('overwrites atomically: a concurrent reader sees the old bytes or the new, never a mix', async () => {
    const oldBody = Buffer.alloc(1 << 20, 'o');
    const newBody = Buffer.alloc(1 << 20, 'n');
    await store.put('k', oldBody);
    const reads = Array.from({ length: 5 }, async () => text(await store.get('k').catch(() => Readable.from(['']))));
    const [, ...bodies] = await Promise.all([store.put('k', newBody), ...reads]);
    for (const b of bodies) expect([oldBody.toString(), newBody.toString()]).toContain(b);
  });
});

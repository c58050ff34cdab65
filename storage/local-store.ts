/**
 * The directory driver of the object store: the embedded default of `make dev`
 * (OBJECT_STORE_DIR, `.data/objects`). One process or several on one machine
 * may share a directory: every write goes to a temp file first and is renamed
 * into place, so a reader sees a whole object or none.
 *
 * Layout: key `a/b/c` is the directory `<root>/a/b/c/` holding `~object` (the
 * bytes) and `~meta.json` (size, sha256, content type). A key segment that
 * starts with `~` is stored with one more `~`, so no key can name another's
 * files, and a key may be both an object and a prefix of others (as in S3).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertObjectKey,
  ObjectChecksumMismatchError,
  ObjectNotFoundError,
  ObjectRangeError,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

const OBJECT_FILE = '~object';
const META_FILE = '~meta.json';
const TMP_DIR = '~tmp';

interface Meta {
  size: number;
  sha256: string;
  contentType?: string;
}

const encodeSegment = (segment: string): string => (segment.startsWith('~') ? `~${segment}` : segment);
const decodeSegment = (name: string): string => (name.startsWith('~~') ? name.slice(1) : name);
const isReserved = (name: string): boolean => name.startsWith('~') && !name.startsWith('~~');

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

export class LocalObjectStore implements ObjectStore {
  readonly kind = 'local' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  private dirOf(key: string): string {
    assertObjectKey(key);
    return join(this.root, ...key.split('/').map(encodeSegment));
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    const dir = this.dirOf(key);
    const tmpDir = join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      await pipeline(source, counter, createWriteStream(tmp, { flags: 'wx' }));
      // The bytes reach the disk before the rename makes them visible.
      const handle = await open(tmp, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      const sha256 = hash.digest('hex');
      if (options.expectSha256 !== undefined && options.expectSha256 !== sha256) {
        throw new ObjectChecksumMismatchError(key, options.expectSha256, sha256);
      }
      const meta: Meta = { size, sha256, ...(options.contentType ? { contentType: options.contentType } : {}) };
      await mkdir(dir, { recursive: true });
      const tmpMeta = `${tmp}.meta`;
      await writeFile(tmpMeta, JSON.stringify(meta), { flag: 'wx' });
      await rename(tmpMeta, join(dir, META_FILE));
      await rename(tmp, join(dir, OBJECT_FILE));
      return { key, ...meta };
    } catch (err) {
      await rm(tmp, { force: true });
      await rm(`${tmp}.meta`, { force: true });
      throw err;
    }
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    const file = join(this.dirOf(key), OBJECT_FILE);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw new ObjectNotFoundError(key);
      throw err;
    }
    if (!range) return createReadStream(file);
    const { start } = range;
    if (!Number.isSafeInteger(start) || start < 0 || start >= size || (range.end !== undefined && range.end < start)) {
      throw new ObjectRangeError(key, start, range.end, size);
    }
    const end = Math.min(range.end ?? size - 1, size - 1);
    return createReadStream(file, { start, end });
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const dir = this.dirOf(key);
    let size: number;
    try {
      size = (await stat(join(dir, OBJECT_FILE))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
      throw err;
    }
    try {
      const meta = JSON.parse(await readFile(join(dir, META_FILE), 'utf8')) as Partial<Meta>;
      return {
        key,
        size,
        ...(meta.size === size && typeof meta.sha256 === 'string' ? { sha256: meta.sha256 } : {}),
        ...(typeof meta.contentType === 'string' ? { contentType: meta.contentType } : {}),
      };
    } catch {
      return { key, size };
    }
  }

  async delete(key: string): Promise<void> {
    const dir = this.dirOf(key);
    await rm(join(dir, OBJECT_FILE), { force: true });
    await rm(join(dir, META_FILE), { force: true });
    // Remove the directories the key left empty, up to (not including) the root.
    let current = dir;
    while (current.startsWith(`${this.root}/`)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (another key lives there) or gone
      }
      current = resolve(current, '..');
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // The longest whole-segment directory the prefix names; the rest filters names.
    const parts = prefix.split('/');
    const partial = parts.pop() ?? '';
    if (parts.length > 0) assertObjectKey(parts.join('/'));
    const startDir = join(this.root, ...parts.map(encodeSegment));
    yield* this.walk(startDir, parts, partial, prefix);
  }

  private async *walk(dir: string, keyParts: string[], filter: string, prefix: string): AsyncIterable<ObjectInfo> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
      throw err;
    }
    const own = keyParts.join('/');
    if (filter === '' && keyParts.length > 0 && own.startsWith(prefix) && names.includes(OBJECT_FILE)) {
      const info = await this.head(own);
      if (info) yield info;
    }
    for (const name of names) {
      if (isReserved(name)) continue;
      const segment = decodeSegment(name);
      if (!segment.startsWith(filter)) continue;
      yield* this.walk(join(dir, name), [...keyParts, segment], '', prefix);
    }
  }

  async presignGet(): Promise<string | null> {
    return null;
  }

  async check(): Promise<void> {
    const tmpDir = join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    const probe = join(tmpDir, `check-${randomUUID()}`);
    await writeFile(probe, 'ok');
    await rm(probe, { force: true });
  }
}

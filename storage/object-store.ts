/**
 * The object store: one small interface, two drivers (storage/local-store.ts,
 * the embedded default of `make dev`; storage/s3-store.ts, any S3-compatible
 * server). Artifacts, workspace tarballs and archived partitions live here;
 * Postgres keeps only their metadata.
 *
 * Keys are opaque, '/'-separated, never start with '/', never contain '..'
 * segments or NUL; drivers refuse others (`assertObjectKey`).
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Hex sha256 of the bytes, when the driver knows it (written at put). */
  sha256?: string;
  contentType?: string;
}

export interface PutOptions {
  contentType?: string;
  /** Refuse the write (and leave nothing behind) if the bytes do not hash to this. */
  expectSha256?: string;
}

export interface ObjectStore {
  /** Which driver, for logs and /readyz. */
  readonly kind: 'local' | 's3';
  /** Writes the whole object; returns its size and sha256 as written. */
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<ObjectInfo>;
  /** Streams the object, or a byte range of it (`end` inclusive); throws ObjectNotFoundError when absent. */
  get(key: string, range?: { start: number; end?: number }): Promise<Readable>;
  /** Metadata, or null when absent. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Deletes the object; absent is not an error. */
  delete(key: string): Promise<void>;
  /** Every object under a prefix. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** A time-limited URL that downloads the object without our API, or null where the driver has none (local). */
  presignGet(key: string, expiresInSeconds: number): Promise<string | null>;
  /** Readiness: the bucket / directory is there and writable. */
  check(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} not found`);
    this.name = 'ObjectNotFoundError';
  }
}

export class InvalidObjectKeyError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`invalid object key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidObjectKeyError';
  }
}

/** A put whose bytes did not hash to PutOptions.expectSha256: nothing was stored. */
export class ObjectChecksumMismatchError extends Error {
  constructor(readonly key: string, readonly expected: string, readonly actual: string) {
    super(`object ${key}: sha256 ${actual} is not the expected ${expected}; nothing stored`);
    this.name = 'ObjectChecksumMismatchError';
  }
}

/** A range that does not overlap the object (S3's 416 InvalidRange). */
export class ObjectRangeError extends Error {
  constructor(readonly key: string, readonly start: number, readonly end: number | undefined, readonly size: number | undefined) {
    super(`object ${key}: range ${start}-${end ?? ''} is outside its ${size ?? '?'} bytes`);
    this.name = 'ObjectRangeError';
  }
}

/** Keys come from our own code, but a tenant's name or a session id ends up in them: refuse anything path-like. */
export function assertObjectKey(key: string): void {
  if (key.length === 0 || key.length > 1024) throw new InvalidObjectKeyError(key, 'length must be 1..1024');
  if (key.startsWith('/')) throw new InvalidObjectKeyError(key, 'must not start with /');
  if (key.includes('\0')) throw new InvalidObjectKeyError(key, 'must not contain NUL');
  if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new InvalidObjectKeyError(key, 'empty, . or .. segment');
  }
}

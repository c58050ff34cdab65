/**
 * The cold format of an archived month: gzip-compressed JSON Lines (one
 * `row_to_json` of a row per line, as Postgres renders it, so a restore through
 * `json_populate_recordset` gives back the same values), cut into parts, and a
 * manifest naming every part with its row count, size and sha256.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { ObjectStore } from '../storage/object-store.js';

export const gzip = promisify(gzipCb);
export const gunzip = promisify(gunzipCb);

export const MANIFEST_VERSION = 1;

export interface ColdObject {
  readonly key: string;
  readonly rows: number;
  /** Compressed bytes, as stored. */
  readonly bytes: number;
  readonly sha256: string;
  /** The JSON Lines text before compression. */
  readonly contentBytes: number;
  readonly contentSha256: string;
}

export interface ColdManifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly format: 'jsonl+gzip';
  readonly table: string;
  /** `2026-09`. */
  readonly month: string;
  /** The partition the rows came from; for an unpartitioned table (messages) the rows of the month's sessions. */
  readonly partition: string;
  readonly bounds: { readonly from: string; readonly to: string };
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly rows: number;
  readonly bytes: number;
  readonly contentBytes: number;
  readonly tenants: readonly string[];
  readonly objects: readonly ColdObject[];
  readonly archivedAt: string;
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a whole object (parts are bounded, see ARCHIVE_PART_BYTES). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

export class ColdVerificationError extends Error {
  override readonly name = 'ColdVerificationError';
}

/** Fetches an object and checks it is exactly what the manifest says (size and sha256); returns its bytes. */
export async function fetchVerified(store: ObjectStore, expected: { key: string; bytes: number; sha256: string }): Promise<Buffer> {
  const bytes = await readAll(await store.get(expected.key));
  if (bytes.length !== expected.bytes) {
    throw new ColdVerificationError(`${expected.key}: ${bytes.length} bytes in the store, ${expected.bytes} expected`);
  }
  const sha = sha256Hex(bytes);
  if (sha !== expected.sha256) throw new ColdVerificationError(`${expected.key}: sha256 ${sha}, ${expected.sha256} expected`);
  return bytes;
}

/** Checks a part after the size and hash: it decompresses to the content hashed at write, with the rows counted. */
export async function verifyContent(object: ColdObject, compressed: Buffer): Promise<Buffer> {
  const content = await gunzip(compressed);
  if (content.length !== object.contentBytes || sha256Hex(content) !== object.contentSha256) {
    throw new ColdVerificationError(`${object.key}: decompressed content differs from what was written`);
  }
  const rows = countLines(content);
  if (rows !== object.rows) throw new ColdVerificationError(`${object.key}: ${rows} rows, ${object.rows} expected`);
  return content;
}

export function countLines(content: Buffer): number {
  let n = 0;
  for (let i = content.indexOf(10); i !== -1; i = content.indexOf(10, i + 1)) n++;
  return n;
}

/** `2026-09` → the month's first instant, UTC; undefined for anything else. */
export function parseMonth(text: string): Date | undefined {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(text);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)) : undefined;
}

export function formatMonth(at: Date): string {
  return `${at.getUTCFullYear()}-${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * Artifacts: bytes in the object store, one row each in Postgres
 * (db/artifacts.ts). Content-addressed per tenant (`tenants/<t>/sha256/<hex>`):
 * the same bytes saved twice by a tenant are stored once and count once
 * against its total.
 *
 * A save spools the body to a local temp file while hashing and counting it
 * (over the tenant's per-artifact limit it stops at once), then, under the
 * tenant's artifact lock, checks the tenant's total, uploads (unless the
 * tenant has the bytes already) and inserts the row. Over a limit: an
 * ArtifactLimitError and nothing written, neither object nor row.
 */
import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import {
  artifactByRef,
  artifactStorageKey,
  expireArtifactRows,
  insertArtifact,
  lockTenantArtifacts,
  tenantArtifactBytes,
  tenantHasSha,
  type ArtifactKind,
  type ArtifactRow,
} from '../db/artifacts.js';
import type { Db } from '../db/client.js';
import type { ArtifactExpiry } from '../domain/maintenance-report.js';
import type { ObjectStore } from './object-store.js';

export type { ArtifactRow } from '../db/artifacts.js';

/** Over the tenant's limit for one artifact or for all of them: nothing was stored. */
export class ArtifactLimitError extends Error {
  constructor(
    readonly code: 'artifact_too_large' | 'artifact_quota_exceeded',
    readonly limitBytes: number,
    message: string,
  ) {
    super(message);
    this.name = 'ArtifactLimitError';
  }
}

export interface ArtifactLimits {
  readonly artifactBytes: number;
  readonly artifactTotalBytes: number;
}

export interface ArtifactsDeps {
  readonly db: Db;
  readonly store: ObjectStore;
  /** The tenant's limits (db/tenant-limits.ts readTenantLimits). */
  readonly limits: (tenantId: string) => Promise<ArtifactLimits>;
  /** When an artifact of the tenant written now expires (its retention class); absent: never. */
  readonly expiresAt?: ((tenantId: string, createdAt: Date) => Promise<Date | null>) | undefined;
  /** How long a presigned download URL lives (S3_PRESIGN_EXPIRES; default 15 minutes). */
  readonly presignExpiresSeconds?: number | undefined;
  /** Where bodies are spooled before upload (default: the OS temp dir). */
  readonly spoolDir?: string | undefined;
  /** The time a save is stamped with, for its expiry (default: the wall clock; tests move it). */
  readonly now?: (() => Date) | undefined;
}

export interface SaveArtifactInput {
  readonly tenantId: string;
  readonly sessionId: string | null;
  readonly step?: number | null;
  /** Unique per session: the same ref again returns the first row (a retried activity). */
  readonly ref: string;
  readonly kind: ArtifactKind;
  readonly name: string;
  readonly mediaType: string;
}

export class Artifacts {
  constructor(readonly deps: ArtifactsDeps) {}

  get store(): ObjectStore {
    return this.deps.store;
  }

  /** Saves a body once per ref; see the module comment for the order of checks. */
  async save(input: SaveArtifactInput, body: Buffer | NodeJS.ReadableStream): Promise<ArtifactRow> {
    const { db } = this.deps;
    const existing = await artifactByRef(db, input.tenantId, input.sessionId, input.ref);
    if (existing) {
      if (!Buffer.isBuffer(body) && 'resume' in body) body.resume();
      return existing;
    }
    const limits = await this.deps.limits(input.tenantId);
    const dir = this.deps.spoolDir ?? join(tmpdir(), 'kortix-artifacts');
    await mkdir(dir, { recursive: true });
    const spool = join(dir, randomUUID());
    try {
      const hash = createHash('sha256');
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > limits.artifactBytes) {
            done(new ArtifactLimitError('artifact_too_large', limits.artifactBytes, `${input.name}: more than ${limits.artifactBytes} bytes, this tenant's limit for one artifact`));
            return;
          }
          hash.update(chunk);
          done(null, chunk);
        },
      });
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      await pipeline(source, counter, createWriteStream(spool, { flags: 'wx' }));
      const sha256 = hash.digest('hex');
      const storageKey = artifactStorageKey(input.tenantId, sha256);
      const createdAt = this.deps.now?.() ?? new Date();
      const expiresAt = this.deps.expiresAt ? await this.deps.expiresAt(input.tenantId, createdAt) : null;
      return await db.transaction().execute(async (trx) => {
        await lockTenantArtifacts(trx, input.tenantId);
        const again = await artifactByRef(trx, input.tenantId, input.sessionId, input.ref);
        if (again) return again;
        // The row of another use of these bytes is there only once its object was written.
        if (!(await tenantHasSha(trx, input.tenantId, sha256))) {
          const total = await tenantArtifactBytes(trx, input.tenantId);
          if (total + size > limits.artifactTotalBytes) {
            throw new ArtifactLimitError(
              'artifact_quota_exceeded',
              limits.artifactTotalBytes,
              `${input.name}: ${size} more bytes would make ${total + size}, over this tenant's limit of ${limits.artifactTotalBytes} bytes for all artifacts`,
            );
          }
          await this.deps.store.put(storageKey, createReadStream(spool), { expectSha256: sha256, contentType: input.mediaType });
        }
        return insertArtifact(trx, {
          tenantId: input.tenantId,
          sessionId: input.sessionId,
          step: input.step ?? null,
          ref: input.ref,
          kind: input.kind,
          name: input.name,
          sha256,
          sizeBytes: size,
          mediaType: input.mediaType,
          storageKey,
          createdAt,
          expiresAt,
        });
      });
    } finally {
      await rm(spool, { force: true });
    }
  }

  /** The artifact's bytes, or a range of them (`end` inclusive, cut at the last byte). */
  async open(row: ArtifactRow, range?: { start: number; end?: number }): Promise<Readable> {
    return this.deps.store.get(row.storageKey, range);
  }

  /** Up to `length` bytes from `offset` (fewer at the end; none past it). */
  async readRange(row: ArtifactRow, offset: number, length: number): Promise<Buffer> {
    if (offset >= row.sizeBytes || length <= 0) return Buffer.alloc(0);
    const end = Math.min(offset + length, row.sizeBytes) - 1;
    return buffer(await this.open(row, { start: offset, end }));
  }

  /** A download URL that bypasses the API, where the driver has one (S3), else null. */
  presign(row: ArtifactRow, expiresInSeconds = this.deps.presignExpiresSeconds ?? 900): Promise<string | null> {
    return this.deps.store.presignGet(row.storageKey, expiresInSeconds);
  }

  /** Rows past their expiry go, and the objects no row uses any more (for the retention pass). */
  expire(now: Date, heldTenants: ReadonlySet<string>): Promise<ArtifactExpiry> {
    return expireArtifactRows(this.deps.db, now, heldTenants, (key) => this.deps.store.delete(key));
  }
}

/**
 * The S3-compatible driver of the object store (AWS S3, SeaweedFS, MinIO, ...).
 *
 * Checksums: the SDK's defaults since 3.729 add CRC32 trailers to every
 * request and demand them in answers, which several S3-compatible servers
 * refuse or do not send; `WHEN_REQUIRED` turns that off. We check integrity
 * ourselves: every put hashes its bytes (sha256) as they stream, keeps the
 * hash in the object's metadata when known up front, and a put with
 * `expectSha256` fails before the upload completes if the bytes differ, so
 * nothing is left behind (a multipart upload is aborted).
 */
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  assertObjectKey,
  ObjectChecksumMismatchError,
  ObjectNotFoundError,
  ObjectRangeError,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** Unset: AWS S3 itself. */
  endpoint?: string;
  forcePathStyle: boolean;
  /** Unset: the SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Bodies larger than this go up in parts of this size (S3's minimum part is 5 MiB). */
  partSizeBytes?: number;
}

const SHA_META = 'sha256';
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

function statusOf(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  readonly bucket: string;
  private readonly partSize: number;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.partSize = Math.max(options.partSizeBytes ?? DEFAULT_PART_SIZE, 5 * 1024 * 1024);
    this.client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    assertObjectKey(key);
    // A buffer is hashed before it leaves, so a mismatch sends nothing and the hash goes into the metadata.
    const knownSha = Buffer.isBuffer(body) ? createHash('sha256').update(body).digest('hex') : options.expectSha256;
    if (Buffer.isBuffer(body) && options.expectSha256 !== undefined && options.expectSha256 !== knownSha) {
      throw new ObjectChecksumMismatchError(key, options.expectSha256, knownSha ?? '');
    }
    const hash = createHash('sha256');
    let size = 0;
    let sha256 = '';
    const expected = options.expectSha256;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
      // Fails the stream, and so the upload, before its last part is sent.
      flush(done) {
        sha256 = hash.digest('hex');
        if (expected !== undefined && expected !== sha256) done(new ObjectChecksumMismatchError(key, expected, sha256));
        else done();
      },
    });
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    source.on('error', (err) => hasher.destroy(err));
    source.pipe(hasher);
    const upload = new Upload({
      client: this.client,
      partSize: this.partSize,
      queueSize: 2,
      leavePartsOnError: false,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: hasher,
        ...(options.contentType ? { ContentType: options.contentType } : {}),
        ...(knownSha ? { Metadata: { [SHA_META]: knownSha } } : {}),
      },
    });
    try {
      await upload.done();
    } catch (err) {
      // The stream's own error (a checksum mismatch, a source failure) says more than the SDK's wrapper.
      const cause = hasher.errored ?? source.errored;
      hasher.destroy();
      if (!Buffer.isBuffer(body)) body.destroy();
      throw cause ?? err;
    }
    return { key, size, sha256, ...(options.contentType ? { contentType: options.contentType } : {}) };
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    assertObjectKey(key);
    if (range && (!Number.isSafeInteger(range.start) || range.start < 0 || (range.end !== undefined && range.end < range.start))) {
      throw new ObjectRangeError(key, range.start, range.end, undefined);
    }
    try {
      const answer = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      if (!(answer.Body instanceof Readable)) throw new Error(`S3 GetObject ${key}: the answer has no stream body`);
      return answer.Body;
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) throw new ObjectNotFoundError(key);
      if (status === 416 && range) throw new ObjectRangeError(key, range.start, range.end, undefined);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertObjectKey(key);
    try {
      const answer = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const sha256 = answer.Metadata?.[SHA_META];
      return {
        key,
        size: answer.ContentLength ?? 0,
        ...(sha256 ? { sha256 } : {}),
        ...(answer.ContentType ? { contentType: answer.ContentType } : {}),
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key !== undefined) yield { key: item.Key, size: item.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async presignGet(key: string, expiresInSeconds: number): Promise<string | null> {
    assertObjectKey(key);
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: expiresInSeconds });
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /** Creates the bucket when it is not there (tests, `make dev` with a local server); production buckets are made by their operators. */
  async ensureBucket(): Promise<void> {
    try {
      await this.check();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}

/**
 * Claim check for Temporal payloads: a payload (already encrypted by the
 * tenant codec) of TEMPORAL_PAYLOAD_OFFLOAD_BYTES or more is written to our
 * object store and the history keeps a small reference; workers and clients
 * read it back on the way in. This is the SDK's own External Storage
 * (`DataConverter.externalStorage`, @temporalio/common 1.24, experimental)
 * with a driver on our ObjectStore interface, so it works with the local
 * driver of `make dev` as well as S3. (`@temporalio/external-storage-s3` is
 * the SDK's S3-only driver; its one release pins @temporalio/common 1.22.0.)
 *
 * What goes this way: the model's answer and tool-call arguments (llmStep's
 * result, execTool's input, finishSession's input, the workflow's result)
 * when they are long. Tool output and the transcript never enter a payload:
 * activities keep them in Postgres and the object store and pass references.
 *
 * Keys are content-addressed (`temporal-payloads/<namespace>/sha256/<hex>`):
 * the codec's random IV makes equal plaintexts different objects, so nothing
 * is shared across tenants. The object store never sees plaintext.
 */
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { ExternalStorage, StorageDriverClaim, type Payload, type StorageDriver } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { Env } from '../config/index.js';
import type { ObjectStore } from '../storage/object-store.js';

const PayloadProto = proto.temporal.api.common.v1.Payload;

/** Where offloaded payloads live in the object store. */
export const PAYLOAD_STORAGE_PREFIX = 'temporal-payloads';

export class PayloadIntegrityError extends Error {
  override readonly name = 'PayloadIntegrityError';
}

/** The External Storage driver on our object store. */
export class ObjectStorePayloadDriver implements StorageDriver {
  readonly name = 'kortix-object-store';
  readonly type = 'kortix.object-store';

  constructor(
    private readonly objects: ObjectStore,
    private readonly namespace: string,
  ) {}

  async store(_context: unknown, payloads: Payload[]): Promise<StorageDriverClaim[]> {
    return Promise.all(
      payloads.map(async (payload) => {
        const bytes = Buffer.from(PayloadProto.encode(PayloadProto.create(payload)).finish());
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        const key = `${PAYLOAD_STORAGE_PREFIX}/${encodeURIComponent(this.namespace)}/sha256/${sha256}`;
        // The same bytes again (a retried task): already there.
        if (!(await this.objects.head(key))) await this.objects.put(key, bytes, { expectSha256: sha256, contentType: 'application/x-protobuf' });
        return new StorageDriverClaim({ key, sha256 });
      }),
    );
  }

  async retrieve(_context: unknown, claims: StorageDriverClaim[]): Promise<Payload[]> {
    return Promise.all(
      claims.map(async ({ claimData }) => {
        const { key, sha256 } = claimData;
        if (!key?.startsWith(`${PAYLOAD_STORAGE_PREFIX}/`) || !sha256) throw new PayloadIntegrityError(`not a payload reference of ours: ${JSON.stringify(claimData)}`);
        const bytes = await buffer(await this.objects.get(key));
        const actual = createHash('sha256').update(bytes).digest('hex');
        if (actual !== sha256) throw new PayloadIntegrityError(`payload ${key}: sha256 ${actual}, the reference says ${sha256}`);
        return PayloadProto.decode(bytes) as Payload;
      }),
    );
  }
}

/** The External Storage of a process, or none when TEMPORAL_PAYLOAD_OFFLOAD_BYTES is 0. */
export function payloadStorage(
  config: Pick<Env, 'TEMPORAL_PAYLOAD_OFFLOAD_BYTES' | 'TEMPORAL_NAMESPACE'>,
  objects: ObjectStore,
): ExternalStorage | undefined {
  if (config.TEMPORAL_PAYLOAD_OFFLOAD_BYTES === 0) return undefined;
  return new ExternalStorage({ drivers: [new ObjectStorePayloadDriver(objects, config.TEMPORAL_NAMESPACE)], payloadSizeThreshold: config.TEMPORAL_PAYLOAD_OFFLOAD_BYTES });
}

/**
 * The payload codec as the configuration describes it, and the data converter
 * every Temporal client, worker and replay of Kortix uses.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DataConverter, ExternalStorage } from '@temporalio/common';
import type { Env } from '../../config/index.js';
import type { Db } from '../../db/client.js';
import { tenantOfWorkflow } from '../../db/workflow-tenant.js';
import { DevKeyring, FileKeyring, KeyringError, LayeredKeyring, type PayloadKeyring } from './keyring.js';
import { TenantPayloadCodec } from './payload-codec.js';

export type CodecConfig = Pick<Env, 'KORTIX_ENV' | 'KORTIX_DATA_DIR' | 'PAYLOAD_CODEC_RING'>;

/** The file `npm run kortix -- keys rotate` writes and the processes read. */
export function payloadKeysFile(config: CodecConfig): string {
  return config.PAYLOAD_CODEC_RING ?? resolve(config.KORTIX_DATA_DIR, 'payload-keys.json');
}

/**
 * Production: the keyring file only (PAYLOAD_CODEC_RING, required by config).
 * Elsewhere: a derived dev key (version 1) for every tenant, plus the file's versions when it exists.
 * A bad file stops startup naming the variable and the file.
 */
export function keyringFromConfig(config: CodecConfig, onReloadError?: (err: Error) => void): PayloadKeyring {
  const file = payloadKeysFile(config);
  try {
    if (config.KORTIX_ENV === 'prod') return new FileKeyring(file, { onReloadError });
    const rings: PayloadKeyring[] = [new DevKeyring()];
    if (config.PAYLOAD_CODEC_RING || existsSync(file)) rings.push(new FileKeyring(file, { missingOk: !config.PAYLOAD_CODEC_RING, onReloadError }));
    return new LayeredKeyring(rings);
  } catch (err) {
    if (err instanceof KeyringError) throw new KeyringError(`PAYLOAD_CODEC_RING: ${err.message}`);
    throw err;
  }
}

/** The codec of the API and the workers: the tenant of a workflow it has not decoded yet is looked up in Postgres. */
export function payloadCodecFromConfig(config: CodecConfig, db: Db | undefined, onReloadError?: (err: Error) => void): TenantPayloadCodec {
  return new TenantPayloadCodec({
    keyring: keyringFromConfig(config, onReloadError),
    lookup: db ? (workflowId) => tenantOfWorkflow(db, workflowId) : undefined,
    // Without a database (a script's client), a tenant workflow's payloads are still never written in clear.
    unknownTenant: 'reject',
  });
}

/** The codec of a replay: decodes with the keyring; what the replayed code encodes is discarded, so it never refuses. */
export function replayCodec(keyring: PayloadKeyring): TenantPayloadCodec {
  return new TenantPayloadCodec({ keyring, unknownTenant: 'plaintext' });
}

/**
 * JSON payloads, then the codec: what goes to Temporal is encrypted per tenant. With `externalStorage`
 * (temporal/payload-storage.ts), encrypted payloads over its threshold go to the object store by reference.
 */
export function kortixDataConverter(codec: TenantPayloadCodec, externalStorage?: ExternalStorage): DataConverter {
  return { payloadCodecs: [codec], ...(externalStorage ? { externalStorage } : {}) };
}

/** The object store a process uses, chosen by the configuration (OBJECT_STORE=local|s3). */
import { resolve } from 'node:path';
import { S3ServiceException } from '@aws-sdk/client-s3';
import type { Env } from '../config/index.js';
import type { Db } from '../db/client.js';
import { artifactExpiry } from '../db/retention.js';
import { defaultTenantLimits, readTenantLimits, type TenantLimitConfig } from '../db/tenant-limits.js';
import type { RetentionConfig } from '../config/retention.js';
import { Artifacts } from './artifacts.js';
import { LocalObjectStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-store.js';

export type ObjectStoreConfig = Pick<
  Env,
  | 'OBJECT_STORE'
  | 'OBJECT_STORE_DIR'
  | 'KORTIX_DATA_DIR'
  | 'S3_ENDPOINT'
  | 'S3_BUCKET'
  | 'S3_REGION'
  | 'S3_ACCESS_KEY_ID'
  | 'S3_SECRET_ACCESS_KEY'
  | 'S3_FORCE_PATH_STYLE'
>;

/** The local driver's directory: OBJECT_STORE_DIR, else `<KORTIX_DATA_DIR>/objects`. */
export function localObjectStoreDir(config: Pick<Env, 'OBJECT_STORE_DIR' | 'KORTIX_DATA_DIR'>): string {
  return resolve(config.OBJECT_STORE_DIR ?? resolve(config.KORTIX_DATA_DIR, 'objects'));
}

/** Builds the driver; loadConfig has already refused OBJECT_STORE=s3 without S3_BUCKET and half a key pair. */
export function objectStoreFromConfig(config: Readonly<ObjectStoreConfig>): ObjectStore {
  if (config.OBJECT_STORE === 'local') return new LocalObjectStore(localObjectStoreDir(config));
  if (!config.S3_BUCKET) throw new Error('S3_BUCKET: required with OBJECT_STORE=s3');
  const secret = config.S3_SECRET_ACCESS_KEY?.reveal();
  return new S3ObjectStore({
    bucket: config.S3_BUCKET,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    ...(config.S3_ENDPOINT ? { endpoint: config.S3_ENDPOINT } : {}),
    ...(config.S3_ACCESS_KEY_ID && secret ? { credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: secret } } : {}),
  });
}

/**
 * The artifacts of API and sandbox workers: the configured store, each tenant's limits (tenant_limits over
 * TENANT_MAX_ARTIFACT_*), and each new row's expiry from the tenant's retention class (artifactDays).
 */
export function artifactsFromConfig(
  config: Readonly<ObjectStoreConfig & TenantLimitConfig & Pick<Env, 'S3_PRESIGN_EXPIRES'> & RetentionConfig>,
  db: Db,
  options: { store?: ObjectStore; now?: () => Date } = {},
): Artifacts {
  const defaults = defaultTenantLimits(config);
  return new Artifacts({
    db,
    store: options.store ?? objectStoreFromConfig(config),
    limits: (tenantId) => readTenantLimits(db, tenantId, defaults),
    expiresAt: (tenantId, createdAt) => artifactExpiry(db, config, tenantId, createdAt),
    now: options.now,
    presignExpiresSeconds: Math.max(1, Math.round(config.S3_PRESIGN_EXPIRES / 1000)),
  });
}

/**
 * At startup (api/main.ts, temporal/worker-main.ts): the store answers and its bucket or directory is there,
 * or an error naming the variable to fix, instead of a failed upload in the middle of someone's session.
 */
export async function checkObjectStore(store: ObjectStore, config: Readonly<ObjectStoreConfig>): Promise<void> {
  try {
    await store.check();
  } catch (err) {
    const why = err instanceof Error ? err.message || err.name : String(err);
    if (config.OBJECT_STORE === 'local') {
      throw new Error(`OBJECT_STORE_DIR: the object store directory ${localObjectStoreDir(config)} is not writable: ${why}`, { cause: err });
    }
    const where = config.S3_ENDPOINT ?? `AWS S3 (${config.S3_REGION})`;
    const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
    if (status === 404) {
      throw new Error(`S3_BUCKET: the bucket ${config.S3_BUCKET} does not exist at ${where}; create it, or set S3_BUCKET to one that does`, { cause: err });
    }
    if (status === 401 || status === 403) {
      throw new Error(`S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY: ${where} refused access to the bucket ${config.S3_BUCKET} (HTTP ${status})`, { cause: err });
    }
    throw new Error(`S3_ENDPOINT: the object store at ${where} did not answer for the bucket ${config.S3_BUCKET}: ${why}`, { cause: err });
  }
}

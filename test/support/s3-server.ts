/**
 * A real S3-compatible server for the tests of the S3 driver: gofakes3
 * (scripts/provision/s3.sh finds or builds it from the Go module proxy), one
 * process per test file on a free loopback port, objects in a bbolt file in a
 * temp directory (a flat key space, as S3 has; its fs backend would map keys
 * to paths). With S3_ENDPOINT set, the tests use that server instead (and
 * S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION from the
 * environment).
 *
 * gofakes3 speaks S3 over HTTP but does NOT verify SigV4 signatures, nor a
 * presigned URL's expiry: nothing run against it proves credentials are
 * checked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provision } from '../../scripts/lib/provision.js';
import { S3ObjectStore, type S3StoreOptions } from '../../storage/s3-store.js';
import { freePort, portOpen } from '../../temporal/dev-server.js';

/** What a stack needs to put its objects somewhere (StackOptions.objectStore). */
export interface ObjectStoreUnderTest {
  readonly kind: 'local' | 's3';
  /** Variables for loadConfig: OBJECT_STORE and the driver's own. */
  readonly env: Record<string, string>;
}

export interface S3Server extends ObjectStoreUnderTest {
  readonly kind: 's3';
  readonly endpoint: string;
  /** Created for this server (gofakes3), or S3_BUCKET of the user's own server. */
  readonly bucket: string;
  /** A user's own server (S3_ENDPOINT), not one this helper started. */
  readonly external: boolean;
  /** The driver on the bucket, with its options overridden (e.g. a small part size). */
  store(options?: Partial<S3StoreOptions>): S3ObjectStore;
  stop(): Promise<void>;
}

/** Keys any S3-compatible test server takes; gofakes3 accepts every key, these only have the right shape. */
const TEST_KEY = { accessKeyId: 'kortix-test', secretAccessKey: 'kortix-test-secret' };

export async function startS3Server(label = 'test'): Promise<S3Server> {
  const vars = await provision('s3');
  if (vars.S3_SOURCE === 'external') return external(label);
  const bin = vars.GOFAKES3_BIN;
  if (!bin) throw new Error('no S3 server: scripts/provision/s3.sh gave neither S3_SOURCE=external nor GOFAKES3_BIN');

  const dir = mkdtempSync(join(tmpdir(), `kortix-s3-${label}-`));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['-backend', 'bolt', '-bolt.db', join(dir, 's3.db'), '-host', `127.0.0.1:${port}`, '-quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(join(dir, 'gofakes3.log'));
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  await waitForPort(child, port, join(dir, 'gofakes3.log'));

  const bucket = `kortix-${label}-${randomUUID().slice(0, 8)}`;
  const server = describeServer({ endpoint, bucket, region: 'us-east-1', credentials: TEST_KEY, external: false }, async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  });
  return withBucket(server).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
}

async function external(label: string): Promise<S3Server> {
  const endpoint = process.env.S3_ENDPOINT as string;
  const keyId = process.env.S3_ACCESS_KEY_ID;
  const secret = process.env.S3_SECRET_ACCESS_KEY;
  const server = describeServer(
    {
      endpoint,
      bucket: process.env.S3_BUCKET ?? `kortix-${label}-${randomUUID().slice(0, 8)}`,
      region: process.env.S3_REGION ?? 'us-east-1',
      ...(keyId && secret ? { credentials: { accessKeyId: keyId, secretAccessKey: secret } } : {}),
      external: true,
    },
    async () => {},
  );
  return withBucket(server);
}

/** Creates the server's bucket when it is not there yet. */
async function withBucket(server: S3Server): Promise<S3Server> {
  const store = server.store();
  try {
    await store.ensureBucket();
  } finally {
    store.destroy();
  }
  return server;
}

function describeServer(
  s: { endpoint: string; bucket: string; region: string; credentials?: { accessKeyId: string; secretAccessKey: string }; external: boolean },
  stop: () => Promise<void>,
): S3Server {
  return {
    kind: 's3',
    endpoint: s.endpoint,
    bucket: s.bucket,
    external: s.external,
    env: {
      OBJECT_STORE: 's3',
      S3_ENDPOINT: s.endpoint,
      S3_BUCKET: s.bucket,
      S3_REGION: s.region,
      S3_FORCE_PATH_STYLE: 'true',
      ...(s.credentials ? { S3_ACCESS_KEY_ID: s.credentials.accessKeyId, S3_SECRET_ACCESS_KEY: s.credentials.secretAccessKey } : {}),
    },
    store(options = {}) {
      return new S3ObjectStore({
        bucket: s.bucket,
        region: s.region,
        endpoint: s.endpoint,
        forcePathStyle: true,
        ...(s.credentials ? { credentials: s.credentials } : {}),
        ...options,
      });
    },
    stop,
  };
}

async function waitForPort(child: ChildProcess, port: number, logFile: string): Promise<void> {
  let exitCode: number | null = null;
  child.once('exit', (code) => {
    exitCode = code ?? -1;
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exitCode !== null) throw new Error(`gofakes3 exited with code ${exitCode} (log: ${logFile})`);
    if (await portOpen('127.0.0.1', port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopChild(child);
  throw new Error(`gofakes3 did not listen on 127.0.0.1:${port} within 30 s (log: ${logFile})`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
}

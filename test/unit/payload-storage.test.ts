/**
 * The External Storage driver of Temporal payloads (temporal/payload-storage.ts)
 * on the local object store driver: a round trip byte for byte, the same
 * payload stored once, and what it refuses on the way back (an object changed
 * in the store, a reference outside its prefix or without a digest).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageDriverClaim } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalObjectStore } from '../../storage/local-store.js';
import { ObjectStorePayloadDriver, PAYLOAD_STORAGE_PREFIX, PayloadIntegrityError, payloadStorage } from '../../temporal/payload-storage.js';

const dir = mkdtempSync(join(tmpdir(), 'kortix-payload-storage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const store = new LocalObjectStore(dir);
const driver = new ObjectStorePayloadDriver(store, 'default');
const payload = { metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from('t#1') }, data: Buffer.from([0, 1, 2, 255, 0]) };

describe('ObjectStorePayloadDriver', () => {
  it('stores a payload under its sha256 and gives it back byte for byte', async () => {
    const [claim, again] = await driver.store({}, [payload, payload]);
    expect(claim!.claimData.key).toBe(`${PAYLOAD_STORAGE_PREFIX}/default/sha256/${claim!.claimData.sha256}`);
    expect(again!.claimData).toEqual(claim!.claimData);
    const [back] = await driver.retrieve({}, [claim!]);
    expect(Buffer.from(back!.data!)).toEqual(payload.data);
    expect(Object.keys(back!.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    expect(Buffer.from(back!.metadata!['encryption-key-id']!).toString()).toBe('t#1');
  });

  it('refuses an object changed in the store, a key outside its prefix, a claim without a digest', async () => {
    const [claim] = await driver.store({}, [{ ...payload, data: Buffer.from('tamper me') }]);
    // The local driver's file of the object (storage/local-store.ts).
    const file = join(dir, ...claim!.claimData.key!.split('/'), '~object');
    writeFileSync(file, Buffer.from('something else'));
    await expect(driver.retrieve({}, [claim!])).rejects.toBeInstanceOf(PayloadIntegrityError);
    const foreign: Record<string, string>[] = [{ key: 'tenants/t/sha256/x', sha256: 'x' }, { key: `${PAYLOAD_STORAGE_PREFIX}/../tenants/t`, sha256: 'x' }, { key: `${PAYLOAD_STORAGE_PREFIX}/default/sha256/x`, sha256: '' }, {}];
    for (const claimData of foreign) {
      await expect(driver.retrieve({}, [new StorageDriverClaim(claimData)])).rejects.toThrow();
    }
  });

  it('is off with TEMPORAL_PAYLOAD_OFFLOAD_BYTES=0, else offloads from that size', () => {
    expect(payloadStorage({ TEMPORAL_PAYLOAD_OFFLOAD_BYTES: 0, TEMPORAL_NAMESPACE: 'default' }, store)).toBeUndefined();
    expect(payloadStorage({ TEMPORAL_PAYLOAD_OFFLOAD_BYTES: 4096, TEMPORAL_NAMESPACE: 'default' }, store)?.payloadSizeThreshold).toBe(4096);
  });
});

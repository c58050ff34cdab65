/**
 * The tenant payload codec (temporal/codec/): AES-256-GCM per tenant, key ids in
 * the metadata, rotation through the keyring file, passthrough of payloads
 * written before the codec, and the tenant found from the SDK's serialization
 * context, through the SDK's own data-converter helpers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { decodeFromPayloadsAtIndex, encodeToPayloadsWithContext } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/data-converter-helpers.js';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.js';
import { keyringFromConfig, kortixDataConverter, payloadCodecFromConfig, replayCodec } from '../../temporal/codec/from-config.js';
import { DevKeyring, FileKeyring, KeyringError, removeKeyFromFile, rotateKeyInFile, StaticKeyring, type PayloadKey } from '../../temporal/codec/keyring.js';
import { decryptPayload, encryptPayload, isEncrypted, PayloadCodecError, payloadKeyId, TenantPayloadCodec } from '../../temporal/codec/payload-codec.js';

const key = (tenant: string, version: number): PayloadKey => ({ tenant, version, key: randomBytes(32) });
const ctx = (workflowId: string) => ({ type: 'workflow' as const, namespace: 'default', workflowId });
const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const text = (p: Payload) => Buffer.from(p.data ?? new Uint8Array()).toString('latin1');
const SECRET = 'Please clean up the build cache of project Zebra-7731';

function codecError(fn: () => unknown): PayloadCodecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PayloadCodecError);
    return err as PayloadCodecError;
  }
  throw new Error('expected a PayloadCodecError');
}

describe('encrypt / decrypt', () => {
  const acme = key('acme', 1);
  const ring = new StaticKeyring([acme, key('globex', 1)]);

  it('round-trips any payload, hides its content, and names its key', () => {
    for (const value of [SECRET, { message: SECRET, nul: 'a\u0000b', lone: '\ud800x' }, 'x'.repeat(200_000), '']) {
      const plain = json(value);
      const sealed = encryptPayload(plain, acme);
      expect(isEncrypted(sealed)).toBe(true);
      expect(payloadKeyId(sealed)).toBe('acme#1');
      expect(text(sealed)).not.toContain('Zebra-7731');
      expect(defaultPayloadConverter.fromPayload(decryptPayload(sealed, ring))).toEqual(value);
    }
  });

  it('compresses large payloads before encrypting, and two encryptions of one payload differ (fresh IV)', () => {
    const big = json('abc'.repeat(100_000));
    const sealed = encryptPayload(big, acme);
    expect(sealed.data?.length).toBeLessThan((big.data?.length ?? 0) / 10);
    expect(Buffer.from(encryptPayload(big, acme).data ?? []).equals(Buffer.from(sealed.data ?? []))).toBe(false);
  });

  it('refuses a payload altered in any byte, or moved under another key id', () => {
    const sealed = encryptPayload(json(SECRET), acme);
    const data = Buffer.from(sealed.data ?? []);
    for (const at of [1, 13, data.length - 17, data.length - 1]) {
      const bad = Buffer.from(data);
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      expect(codecError(() => decryptPayload({ ...sealed, data: bad }, ring)).code).toBe('payload_tampered');
    }
    const moved = { ...sealed, metadata: { ...sealed.metadata, 'encryption-key-id': Buffer.from('globex#1') } };
    expect(codecError(() => decryptPayload(moved, ring)).code).toBe('payload_tampered');
    expect(codecError(() => decryptPayload({ ...sealed, data: data.subarray(0, 20) }, ring)).code).toBe('malformed_payload');
  });

  it("refuses another tenant's payload when the caller is limited to its own, and a key id it does not hold", () => {
    const sealed = encryptPayload(json(SECRET), acme);
    const err = codecError(() => decryptPayload(sealed, ring, 'globex'));
    expect(err.code).toBe('wrong_tenant');
    const unknown = codecError(() => decryptPayload(encryptPayload(json(1), key('acme', 7)), ring));
    expect(unknown.code).toBe('unknown_key');
    expect(unknown.message).toContain('acme#7');
    expect(unknown.message).toContain('versions 1');
  });

  it('decrypting with the wrong key of the same id fails authentication', () => {
    const other = new StaticKeyring([key('acme', 1)]);
    expect(codecError(() => decryptPayload(encryptPayload(json(SECRET), acme), other)).code).toBe('payload_tampered');
  });
});

describe('the codec through the SDK data converter', () => {
  const acme1 = key('acme', 1);
  const ring = new StaticKeyring([acme1, key('globex', 1)]);
  const tenants: Record<string, string> = { 'ses_a': 'acme', 'ses_g': 'globex' };
  const lookups: string[] = [];
  const codec = new TenantPayloadCodec({
    keyring: ring,
    lookup: async (id) => {
      lookups.push(id);
      return tenants[id] ?? null;
    },
  });
  const converter = loadDataConverter(kortixDataConverter(codec));

  it("encrypts a session's payloads with its tenant's key, found from the workflow id of the serialization context", async () => {
    const [payload] = (await encodeToPayloadsWithContext(converter, ctx('ses_a'), [{ message: SECRET }])) ?? [];
    expect(payload && payloadKeyId(payload)).toBe('acme#1');
    expect(text(payload as Payload)).not.toContain('Zebra');
    const [g] = (await encodeToPayloadsWithContext(converter, { type: 'activity', namespace: 'default', workflowId: 'ses_g', isLocal: false }, ['x'])) ?? [];
    expect(g && payloadKeyId(g)).toBe('globex#1');
    expect(await decodeFromPayloadsAtIndex(converter, 0, [payload as Payload])).toEqual({ message: SECRET });
    // Looked up once per workflow, then remembered.
    await encodeToPayloadsWithContext(converter, ctx('ses_a'), ['again']);
    expect(lookups.filter((id) => id === 'ses_a')).toHaveLength(1);
  });

  it('learns the tenant of a workflow from a payload it decoded (no lookup needed)', async () => {
    const noDb = new TenantPayloadCodec({ keyring: ring });
    const sealed = encryptPayload(json('start'), acme1);
    await noDb.decode([sealed], ctx('ses_learned'));
    const [out] = await noDb.encode([json('result')], ctx('ses_learned'));
    expect(out && payloadKeyId(out)).toBe('acme#1');
  });

  it('refuses to write a tenant workflow in clear when its tenant is unknown; other workflows pass through', async () => {
    await expect(codec.encode([json(SECRET)], ctx('ses_nobody'))).rejects.toMatchObject({ code: 'no_tenant' });
    await expect(codec.encode([json(SECRET)], ctx('agp_nobody'))).rejects.toThrow(/no tenant known for workflow agp_nobody/);
    const [maintenance] = await codec.encode([json({ run: 1 })], ctx('kortix-maintenance'));
    expect(maintenance && isEncrypted(maintenance)).toBe(false);
    // A replay's encoded output is thrown away: it never refuses.
    const [replayed] = await replayCodec(ring).encode([json('x')], ctx('ses_nobody'));
    expect(replayed && isEncrypted(replayed)).toBe(false);
  });

  it('passes unencrypted payloads through on decode (histories from before the codec)', async () => {
    const plain = json({ message: 'old' });
    const [out] = await codec.decode([plain], ctx('ses_a'));
    expect(out).toBe(plain);
  });
});

describe('keyring file and rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kortix-keys-'));

  it('rotation: new payloads use the new key id, old ones still decode; a removed version gives a clear error', async () => {
    const file = join(dir, 'rotate.json');
    const v1 = rotateKeyInFile(file, 'acme');
    const ring = new FileKeyring(file);
    const codec = new TenantPayloadCodec({ keyring: ring, lookup: async () => 'acme' });
    const [before] = await codec.encode([json(SECRET)], ctx('ses_r'));
    expect(before && payloadKeyId(before)).toBe(`acme#${v1.version}`);

    const v2 = rotateKeyInFile(file, 'acme');
    expect(v2.version).toBe(v1.version + 1);
    // Seen at once when asked for (an unknown version re-reads the file); the newest within a second otherwise.
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    await new Promise((r) => setTimeout(r, 1_050));
    const [after] = await codec.encode([json(SECRET)], ctx('ses_r'));
    expect(after && payloadKeyId(after)).toBe(`acme#${v2.version}`);
    const [old] = await codec.decode([before as Payload]);
    expect(defaultPayloadConverter.fromPayload(old as Payload)).toBe(SECRET);

    removeKeyFromFile(file, 'acme', v1.version);
    const fresh = new TenantPayloadCodec({ keyring: new FileKeyring(file) });
    await expect(fresh.decode([before as Payload])).rejects.toThrow(`no payload key acme#${v1.version}: tenant acme has versions ${v2.version}`);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { tenants: Record<string, { version: number }[]> };
    expect(saved.tenants.acme?.map((e) => e.version)).toEqual([v2.version]);
  });

  it('a bad keyring file stops startup naming PAYLOAD_CODEC_RING, the file and the path inside it', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ tenants: { acme: [{ version: 1, key: 'c2hvcnQ=' }] } }));
    expect(() => keyringFromConfig(loadConfig({ KORTIX_ENV: 'test', PAYLOAD_CODEC_RING: file }))).toThrow(
      new KeyringError(`PAYLOAD_CODEC_RING: ${file}: tenants.acme.0.key: base64 of 32 bytes (openssl rand -base64 32)`),
    );
    writeFileSync(file, '{"tenants": ');
    expect(() => keyringFromConfig(loadConfig({ KORTIX_ENV: 'test', PAYLOAD_CODEC_RING: file }))).toThrow(/PAYLOAD_CODEC_RING: .*bad\.json: not JSON/);
    expect(() => keyringFromConfig(loadConfig({ KORTIX_ENV: 'test', PAYLOAD_CODEC_RING: join(dir, 'none.json') }))).toThrow(/no such keyring file/);
  });

  it('production requires PAYLOAD_CODEC_RING and uses no dev key', () => {
    expect(() => loadConfig({ KORTIX_ENV: 'prod', VOTE_SIGNING_KEY: 'v'.repeat(40), SANDBOX_EGRESS_FIREWALL: 'on' })).toThrow(/PAYLOAD_CODEC_RING: required with KORTIX_ENV=prod/);
    const file = join(dir, 'prod.json');
    rotateKeyInFile(file, 'acme', { minVersion: 3 });
    const ring = keyringFromConfig({ KORTIX_ENV: 'prod', KORTIX_DATA_DIR: dir, PAYLOAD_CODEC_RING: file });
    expect(ring.versions('acme')).toEqual([3]);
    expect(ring.current('globex')).toBeUndefined();
    // Outside production, every tenant has the derived dev key as version 1, under the file's versions.
    const dev = keyringFromConfig({ KORTIX_ENV: 'dev', KORTIX_DATA_DIR: dir, PAYLOAD_CODEC_RING: file });
    expect(dev.versions('acme')).toEqual([1, 3]);
    expect(dev.current('acme')?.version).toBe(3);
    expect(dev.current('globex')?.key.equals(new DevKeyring().current('globex')?.key ?? Buffer.alloc(0))).toBe(true);
  });

  it('the dev keys differ per tenant, so one tenant key never opens another tenant payload', async () => {
    const codec = payloadCodecFromConfig({ KORTIX_ENV: 'test', KORTIX_DATA_DIR: dir, PAYLOAD_CODEC_RING: undefined }, undefined);
    codec.tenants.remember('ses_1', 'acme');
    const [sealed] = await codec.encode([json(SECRET)], ctx('ses_1'));
    const forged = { ...sealed, metadata: { ...sealed?.metadata, 'encryption-key-id': Buffer.from('globex#1') } };
    await expect(codec.decode([forged])).rejects.toMatchObject({ code: 'payload_tampered' });
  });
});

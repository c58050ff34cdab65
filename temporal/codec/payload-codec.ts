/**
 * The payload codec: AES-256-GCM with a per-tenant key (node:crypto).
 *
 * Which tenant? A codec sees payloads, not sessions. SDK 1.24 hands it a
 * serialization context naming the workflow that owns the payloads (the target
 * workflow for a client's start/signal/update/query, the scheduling workflow
 * for an activity's input and result). The workflow id is the session id (or
 * the promotion id), not the tenant, so `WorkflowTenants` maps one to the other:
 *   - learned when decoding: an encrypted payload names its key, hence its
 *     tenant, so a worker that decoded a session's start input knows its tenant;
 *   - else looked up in Postgres (the API writes the session / promotion row
 *     before it starts the workflow), then cached (a workflow's tenant never changes).
 * Trade-off: one indexed query per workflow per process the first time it
 * encodes before it decodes; in exchange no workflow input, signal or activity
 * has to carry the tenant for the codec's sake, and the choice of key never
 * depends on user-controlled payload content. Rejected alternatives: reading the
 * tenant out of the JSON payload (activity results carry none), and
 * AsyncLocalStorage around activities (workflow completions are encoded outside
 * any activity).
 *
 * A tenant workflow (`ses_…`, `agp_…`) whose tenant cannot be found fails the
 * encode (fail closed: no user content leaves in clear). Other workflows (the
 * maintenance schedule's) carry no user content and pass through unencrypted.
 * Decoding needs no context: every encrypted payload carries its key id
 * (tenant + version) in its metadata; unencrypted payloads (histories from before
 * the codec) pass through, so old sessions keep running and replaying.
 *
 * Wire format of an encrypted payload:
 *   metadata: encoding = `binary/encrypted`, encryption-key-id = `<tenant>#<version>`,
 *             encryption-cipher = `AES-256-GCM`
 *   data:     1 byte format (1) | 12 bytes IV | ciphertext | 16 bytes GCM tag
 *   plaintext: 1 byte flags (bit 0: deflate-raw) | the original Payload (protobuf)
 * The key id is bound as GCM additional data: a payload moved under another
 * key id, or edited in any byte, fails to decode.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { PayloadKey, PayloadKeyring } from './keyring.js';

const PayloadProto = proto.temporal.api.common.v1.Payload;

export const ENCODING_ENCRYPTED = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const FORMAT_V1 = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FLAG_DEFLATE = 1;
/** Below this, compression rarely pays for its header. */
const COMPRESS_MIN_BYTES = 256;

/** Workflows whose payloads carry a tenant's content: sessions and agent promotions. */
export const TENANT_WORKFLOW_ID = /^(ses|agp)_/;

/** A payload the codec refuses: tampered, an unknown key, another tenant's. Never healed by a retry. */
export class PayloadCodecError extends Error {
  override readonly name = 'PayloadCodecError';
  constructor(
    message: string,
    readonly code: 'payload_tampered' | 'unknown_key' | 'wrong_tenant' | 'malformed_payload' | 'no_tenant',
  ) {
    super(message);
  }
}

const utf8 = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export function keyIdOf(key: Pick<PayloadKey, 'tenant' | 'version'>): string {
  return `${key.tenant}#${key.version}`;
}

export function parseKeyId(id: string): { tenant: string; version: number } | undefined {
  const at = id.lastIndexOf('#');
  const version = Number(id.slice(at + 1));
  if (at <= 0 || !Number.isInteger(version) || version < 1) return undefined;
  return { tenant: id.slice(0, at), version };
}

/** Whether a payload was written by this codec (its metadata says so). */
export function isEncrypted(payload: Payload): boolean {
  return utf8(payload.metadata?.encoding) === ENCODING_ENCRYPTED;
}

/** The key id an encrypted payload names, if any. */
export function payloadKeyId(payload: Payload): string | undefined {
  return isEncrypted(payload) ? utf8(payload.metadata?.[KEY_ID_METADATA]) : undefined;
}

export function encryptPayload(payload: Payload, key: PayloadKey, options: { compress?: boolean } = {}): Payload {
  const inner = Buffer.from(PayloadProto.encode(payload).finish());
  let flags = 0;
  let body = inner;
  if (options.compress !== false && inner.length >= COMPRESS_MIN_BYTES) {
    const deflated = deflateRawSync(inner);
    if (deflated.length < inner.length) {
      flags |= FLAG_DEFLATE;
      body = deflated;
    }
  }
  const keyId = keyIdOf(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(keyId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(Buffer.from([flags])), cipher.update(body), cipher.final()]);
  return {
    metadata: {
      encoding: Buffer.from(ENCODING_ENCRYPTED),
      [KEY_ID_METADATA]: Buffer.from(keyId),
      [CIPHER_METADATA]: Buffer.from(CIPHER),
    },
    data: Buffer.concat([Buffer.from([FORMAT_V1]), iv, ciphertext, cipher.getAuthTag()]),
  };
}

/** Decrypts one payload with the key it names; `allowTenant` limits which tenant's keys may be used. */
export function decryptPayload(payload: Payload, keyring: PayloadKeyring, allowTenant?: string): Payload {
  const keyId = payloadKeyId(payload);
  const parsed = keyId === undefined ? undefined : parseKeyId(keyId);
  if (!parsed) throw new PayloadCodecError(`encrypted payload without a valid ${KEY_ID_METADATA} (${JSON.stringify(keyId ?? null)})`, 'malformed_payload');
  if (allowTenant !== undefined && parsed.tenant !== allowTenant) {
    throw new PayloadCodecError(`payload encrypted for another tenant (key ${keyId}); this operator may decode tenant ${allowTenant} only`, 'wrong_tenant');
  }
  const key = keyring.get(parsed.tenant, parsed.version);
  if (!key) {
    const held = keyring.versions(parsed.tenant);
    throw new PayloadCodecError(
      `no payload key ${keyId}: tenant ${parsed.tenant} has ${held.length ? `versions ${held.join(', ')}` : 'no keys'} in the keyring (a removed key cannot decode its payloads)`,
      'unknown_key',
    );
  }
  const data = Buffer.from(payload.data ?? new Uint8Array());
  if (data.length < 1 + IV_BYTES + 1 + TAG_BYTES || data[0] !== FORMAT_V1) {
    throw new PayloadCodecError(`encrypted payload (key ${keyId}) is truncated or of an unknown format`, 'malformed_payload');
  }
  const iv = data.subarray(1, 1 + IV_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key.key, iv);
  decipher.setAAD(Buffer.from(keyId as string, 'utf8'));
  decipher.setAuthTag(tag);
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(data.subarray(1 + IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new PayloadCodecError(`encrypted payload (key ${keyId}) failed authentication: altered, or not written with this key`, 'payload_tampered');
  }
  const flags = plain[0] ?? 0;
  const body = plain.subarray(1);
  return PayloadProto.decode(flags & FLAG_DEFLATE ? inflateRawSync(body) : body);
}

/** Which tenant a workflow belongs to: `null` for workflows that are no tenant's (the maintenance schedule's). */
export interface WorkflowTenantLookup {
  (workflowId: string): Promise<string | null | undefined>;
}

/** workflow id → tenant, learned from decoded payloads or looked up; bounded (oldest first out). */
export class WorkflowTenants {
  readonly #known = new Map<string, string>();

  constructor(
    private readonly lookup: WorkflowTenantLookup | undefined,
    private readonly max = 50_000,
  ) {}

  remember(workflowId: string, tenant: string): void {
    if (this.#known.get(workflowId) === tenant) return;
    this.#known.delete(workflowId);
    this.#known.set(workflowId, tenant);
    if (this.#known.size > this.max) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }

  async tenantOf(workflowId: string): Promise<string | undefined> {
    const known = this.#known.get(workflowId);
    if (known !== undefined) return known;
    if (!this.lookup) return undefined;
    const found = await this.lookup(workflowId);
    if (found) this.remember(workflowId, found);
    return found ?? undefined;
  }
}

export interface TenantPayloadCodecOptions {
  readonly keyring: PayloadKeyring;
  /** Finds a workflow's tenant when no decoded payload told it (Postgres in the API and workers). */
  readonly lookup?: WorkflowTenantLookup | undefined;
  /**
   * A tenant workflow whose tenant is unknown: `reject` (API and workers: fail closed)
   * or `plaintext` (replay: its encoded output is thrown away, and an unencrypted
   * history from before the codec has nothing to learn the tenant from).
   */
  readonly unknownTenant?: 'reject' | 'plaintext';
  /** Deflate payloads before encrypting (when smaller). Default on. */
  readonly compress?: boolean;
}

export class TenantPayloadCodec implements PayloadCodec {
  readonly tenants: WorkflowTenants;

  constructor(private readonly options: TenantPayloadCodecOptions) {
    this.tenants = new WorkflowTenants(options.lookup);
  }

  get keyring(): PayloadKeyring {
    return this.options.keyring;
  }

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    if (payloads.length === 0) return payloads;
    const workflowId = context?.workflowId;
    if (!workflowId) return payloads;
    const tenant = await this.tenants.tenantOf(workflowId);
    if (tenant === undefined) {
      if (!TENANT_WORKFLOW_ID.test(workflowId) || this.options.unknownTenant === 'plaintext') return payloads;
      throw new PayloadCodecError(`no tenant known for workflow ${workflowId}: its payloads are not written unencrypted`, 'no_tenant');
    }
    return this.encodeFor(tenant, payloads);
  }

  /** Encrypts with the tenant's newest key (the codec endpoint's /encode, and `encode` above). */
  encodeFor(tenant: string, payloads: Payload[]): Payload[] {
    const key = this.options.keyring.current(tenant);
    if (!key) throw new PayloadCodecError(`no payload key for tenant ${tenant}`, 'unknown_key');
    return payloads.map((p) => (isEncrypted(p) ? p : encryptPayload(p, key, { compress: this.options.compress ?? true })));
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return payloads.map((p) => {
      if (!isEncrypted(p)) return p;
      const decoded = decryptPayload(p, this.options.keyring);
      // The key names the tenant: the workflow's later payloads are encrypted for it too.
      const tenant = parseKeyId(payloadKeyId(p) ?? '')?.tenant;
      if (context?.workflowId && tenant) this.tenants.remember(context.workflowId, tenant);
      return decoded;
    });
  }
}

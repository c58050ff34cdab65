/**
 * Per-tenant payload keys, by version. The codec asks a `PayloadKeyring` for a
 * tenant's newest key (to encrypt) or one exact version (to decrypt). Where the
 * keys come from is behind that interface: a JSON keyring file (rotated with
 * `npm run kortix -- keys rotate <tenant>`), and outside production a key derived
 * per tenant from a fixed dev secret, so `make dev` and the tests need no setup.
 * (The secrets provider of issue 15, `secrets/`, can back it later: one more
 * implementation of `PayloadKeyring`.)
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

/** AES-256: 32 bytes. */
export const PAYLOAD_KEY_BYTES = 32;

export interface PayloadKey {
  readonly tenant: string;
  /** 1, 2, 3...; new payloads use the highest. */
  readonly version: number;
  readonly key: Buffer;
}

export interface PayloadKeyring {
  /** The tenant's newest key, or undefined when the ring holds none for it. */
  current(tenant: string): PayloadKey | undefined;
  /** One version of the tenant's key; undefined when it is not (or no longer) in the ring. */
  get(tenant: string, version: number): PayloadKey | undefined;
  /** The versions the ring holds for a tenant (for error messages and `keys ls`). */
  versions(tenant: string): readonly number[];
}

/** A keyring file that cannot be used: names the file and the path inside it. */
export class KeyringError extends Error {
  override readonly name = 'KeyringError';
}

const keyEntry = z
  .object({
    version: z.number().int().min(1).max(1_000_000),
    /** base64 of 32 random bytes. */
    key: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 of 32 bytes (openssl rand -base64 32)'),
    created: z.string().optional(),
  })
  .strict();

const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const keyringFileSchema = z
  .object({
    tenants: z.record(z.string().regex(TENANT_ID, 'a tenant id'), z.array(keyEntry).min(1)),
  })
  .strict();

export type KeyringFile = z.infer<typeof keyringFileSchema>;

/** Keys held in memory, e.g. parsed from a file. */
export class StaticKeyring implements PayloadKeyring {
  readonly #byTenant = new Map<string, PayloadKey[]>();

  constructor(keys: readonly PayloadKey[]) {
    for (const k of keys) {
      if (k.key.length !== PAYLOAD_KEY_BYTES) throw new KeyringError(`key ${k.tenant} v${k.version} is ${k.key.length} bytes, not ${PAYLOAD_KEY_BYTES}`);
      const list = this.#byTenant.get(k.tenant) ?? [];
      if (list.some((o) => o.version === k.version)) throw new KeyringError(`tenant ${k.tenant} has version ${k.version} twice`);
      list.push(k);
      list.sort((a, b) => a.version - b.version);
      this.#byTenant.set(k.tenant, list);
    }
  }

  current(tenant: string): PayloadKey | undefined {
    return this.#byTenant.get(tenant)?.at(-1);
  }

  get(tenant: string, version: number): PayloadKey | undefined {
    return this.#byTenant.get(tenant)?.find((k) => k.version === version);
  }

  versions(tenant: string): readonly number[] {
    return (this.#byTenant.get(tenant) ?? []).map((k) => k.version);
  }
}

/** Parses a keyring file's text; errors name the file and the JSON path. */
export function parseKeyringFile(text: string, file: string): KeyringFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KeyringError(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = keyringFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyringError(`${file}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  return parsed.data;
}

export function keysOfFile(data: KeyringFile): PayloadKey[] {
  return Object.entries(data.tenants).flatMap(([tenant, entries]) => entries.map((e) => ({ tenant, version: e.version, key: Buffer.from(e.key, 'base64') })));
}

/**
 * A keyring file, read again when it changes (checked at most once a second):
 * a rotation reaches the API and every worker without a restart. A file that
 * disappears or turns invalid after startup keeps the last good keys (and says so
 * once per change through `onReloadError`): a half-written edit must not stop decoding.
 */
export class FileKeyring implements PayloadKeyring {
  #ring: StaticKeyring;
  #mtimeMs = -1;
  #checkedAt = 0;

  constructor(
    readonly file: string,
    private readonly options: { readonly missingOk?: boolean; readonly onReloadError?: (err: Error) => void } = {},
  ) {
    this.#ring = new StaticKeyring([]);
    // The first read fails loudly: a bad file stops startup naming it.
    this.#load(true);
  }

  #load(first: boolean): void {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.file).mtimeMs;
    } catch {
      if (first && !this.options.missingOk) throw new KeyringError(`${this.file}: no such keyring file`);
      return;
    }
    if (mtimeMs === this.#mtimeMs) return;
    try {
      this.#ring = new StaticKeyring(keysOfFile(parseKeyringFile(readFileSync(this.file, 'utf8'), this.file)));
      this.#mtimeMs = mtimeMs;
    } catch (err) {
      if (first) throw err instanceof KeyringError ? err : new KeyringError(`${this.file}: ${(err as Error).message}`);
      this.#mtimeMs = mtimeMs;
      this.options.onReloadError?.(err as Error);
    }
  }

  #fresh(force = false): StaticKeyring {
    const now = Date.now();
    if (force || now - this.#checkedAt >= 1_000) {
      this.#checkedAt = now;
      this.#load(false);
    }
    return this.#ring;
  }

  current(tenant: string): PayloadKey | undefined {
    return this.#fresh().current(tenant);
  }

  get(tenant: string, version: number): PayloadKey | undefined {
    // A version we do not know yet may have just been written by a rotation: look at the file again.
    return this.#fresh().get(tenant, version) ?? this.#fresh(true).get(tenant, version);
  }

  versions(tenant: string): readonly number[] {
    return this.#fresh().versions(tenant);
  }
}

/** Outside production, version 1 of every tenant's key is derived from this: API, workers and replay agree without setup. */
const DEV_MASTER_KEY = 'kortix-dev-payload-key: not for production';

/** Version 1 of each tenant's key, derived (HKDF-SHA256) from a fixed dev secret. Never in production (config refuses it). */
export class DevKeyring implements PayloadKeyring {
  readonly #cache = new Map<string, PayloadKey>();

  current(tenant: string): PayloadKey | undefined {
    return this.get(tenant, 1);
  }

  get(tenant: string, version: number): PayloadKey | undefined {
    if (version !== 1 || !TENANT_ID.test(tenant)) return undefined;
    let k = this.#cache.get(tenant);
    if (!k) {
      k = { tenant, version: 1, key: Buffer.from(hkdfSync('sha256', DEV_MASTER_KEY, 'kortix-payload-codec', tenant, PAYLOAD_KEY_BYTES)) };
      this.#cache.set(tenant, k);
    }
    return k;
  }

  versions(tenant: string): readonly number[] {
    return TENANT_ID.test(tenant) ? [1] : [];
  }
}

/** Several rings as one: a tenant's versions from all of them, the newest wins for new payloads. */
export class LayeredKeyring implements PayloadKeyring {
  constructor(private readonly rings: readonly PayloadKeyring[]) {}

  current(tenant: string): PayloadKey | undefined {
    let best: PayloadKey | undefined;
    for (const ring of this.rings) {
      const k = ring.current(tenant);
      if (k && (!best || k.version > best.version)) best = k;
    }
    return best;
  }

  get(tenant: string, version: number): PayloadKey | undefined {
    for (const ring of this.rings) {
      const k = ring.get(tenant, version);
      if (k) return k;
    }
    return undefined;
  }

  versions(tenant: string): readonly number[] {
    return [...new Set(this.rings.flatMap((r) => r.versions(tenant)))].sort((a, b) => a - b);
  }
}

/**
 * Rotation: appends a new random key version for the tenant to the keyring file
 * (created when missing) and returns it. Old versions stay, so payloads written
 * with them still decode; new payloads use the new one once each process has
 * re-read the file (within a second). `minVersion` keeps a rotated tenant above
 * the derived dev key (version 1) outside production.
 */
export function rotateKeyInFile(file: string, tenant: string, options: { minVersion?: number; now?: Date } = {}): PayloadKey {
  if (!TENANT_ID.test(tenant)) throw new KeyringError(`"${tenant}" is not a tenant id`);
  let data: KeyringFile = { tenants: {} };
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // a new file
  }
  if (text !== undefined) data = parseKeyringFile(text, file);
  const entries = data.tenants[tenant] ?? [];
  const version = Math.max(options.minVersion ?? 1, ...entries.map((e) => e.version + 1));
  const key = randomBytes(PAYLOAD_KEY_BYTES);
  data.tenants[tenant] = [...entries, { version, key: key.toString('base64'), created: (options.now ?? new Date()).toISOString() }];
  // Written whole, then renamed over: a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return { tenant, version, key };
}

/**
 * Removes one version from the file (after every payload written with it has aged
 * out): payloads under it then fail to decode with a clear error.
 */
export function removeKeyFromFile(file: string, tenant: string, version: number): void {
  const data = parseKeyringFile(readFileSync(file, 'utf8'), file);
  const entries = (data.tenants[tenant] ?? []).filter((e) => e.version !== version);
  if (entries.length === (data.tenants[tenant] ?? []).length) throw new KeyringError(`${file}: tenant ${tenant} has no key version ${version}`);
  if (entries.length === 0) delete data.tenants[tenant];
  else data.tenants[tenant] = entries;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

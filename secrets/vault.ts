/**
 * Vault / OpenBao KV version 2 over its HTTP API: token auth (`X-Vault-Token`),
 * an optional namespace (`X-Vault-Namespace`), reads of
 * `GET /v1/<mount>/data/<prefix>/<tenant>/<name>[?version=N]`, lists of
 * `GET /v1/<mount>/metadata/<prefix>/<tenant>?list=true`. A secret's value is one field
 * of its data (`value` by default). 404 is "no such secret", 403 "refused":
 * neither heals by retrying; anything else unexpected may.
 */
import type { Secret } from '../config/secret.js';
import { SecretAccessError, SecretNotFoundError, SecretProviderError, checkLookup, existsByGet, secretPath, type SecretProvider, type SecretValue } from './provider.js';

export interface VaultOptions {
  /** `http(s)://host:8200`, no path. */
  readonly address: string;
  readonly token: Secret;
  readonly namespace?: string | undefined;
  /** The KV v2 engine's mount (`secret`). */
  readonly mount: string;
  /** Folder of Kortix's secrets inside the mount; each tenant has its own below it. */
  readonly prefix: string;
  /** The field of the secret's data that holds its value. */
  readonly field: string;
  readonly timeoutMs?: number | undefined;
}

interface KvRead {
  data?: { data?: Record<string, unknown> | null; metadata?: { version?: number; deletion_time?: string; destroyed?: boolean } | null } | null;
}

export class VaultSecrets implements SecretProvider {
  readonly kind = 'vault';
  readonly #o: VaultOptions;

  constructor(options: VaultOptions) {
    this.#o = { ...options, address: options.address.replace(/\/+$/, '') };
  }

  async #call(method: 'GET', path: string, what: string): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { 'X-Vault-Token': this.#o.token.reveal(), accept: 'application/json' };
    if (this.#o.namespace) headers['X-Vault-Namespace'] = this.#o.namespace;
    let res: Response;
    try {
      res = await fetch(`${this.#o.address}/v1/${path}`, { method, headers, signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000) });
    } catch (err) {
      throw new SecretProviderError(`vault at ${this.#o.address} did not answer for ${what}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : {};
    } catch {
      throw new SecretProviderError(`vault answered ${res.status} with a body that is not JSON for ${what}`);
    }
    if (res.status === 403) {
      const errors = (body as { errors?: unknown[] }).errors ?? [];
      throw new SecretAccessError(`vault refused ${what} (403 ${errors.map(String).join('; ') || 'permission denied'}): check VAULT_TOKEN and its policy`);
    }
    if (res.status >= 500 || (res.status !== 200 && res.status !== 404)) {
      throw new SecretProviderError(`vault answered ${res.status} for ${what}`);
    }
    return { status: res.status, body };
  }

  async get(tenantId: string, name: string, options?: { version?: string | undefined }): Promise<SecretValue> {
    const path = secretPath(this.#o.prefix, tenantId, name);
    const version = options?.version;
    if (version !== undefined && !/^\d{1,9}$/.test(version)) throw new SecretNotFoundError(`secret ${name} has no version ${JSON.stringify(version)}`);
    const what = `secret ${name}${version ? ` version ${version}` : ''}`;
    const { status, body } = await this.#call('GET', `${this.#o.mount}/data/${path}${version ? `?version=${version}` : ''}`, what);
    const read = body as KvRead;
    const meta = read.data?.metadata;
    // A deleted or destroyed version answers 404 with its metadata and no data.
    if (status === 404 || !read.data?.data) {
      const gone = meta?.destroyed ? ' (destroyed)' : meta?.deletion_time ? ' (deleted)' : '';
      throw new SecretNotFoundError(`no ${what} in vault${gone} (looked at ${this.#o.mount}/data/${path})`);
    }
    const value = read.data.data[this.#o.field];
    if (typeof value !== 'string') throw new SecretNotFoundError(`${what} in vault has no string field "${this.#o.field}" (VAULT_KV_FIELD)`);
    return { value, version: String(meta?.version ?? version ?? '') };
  }

  exists(tenantId: string, name: string): Promise<boolean> {
    return existsByGet(() => this.get(tenantId, name));
  }


  async list(tenantId: string): Promise<string[]> {
    checkLookup(tenantId, 'x');
    const folder = [this.#o.prefix, tenantId].filter(Boolean).join('/');
    // `GET ...?list=true` is Vault's spelling of LIST for clients that send only standard methods.
    const { status, body } = await this.#call('GET', `${this.#o.mount}/metadata/${folder}?list=true`, `the secrets of tenant ${tenantId}`);
    if (status === 404) return [];
    const keys = (body as { data?: { keys?: unknown } }).data?.keys;
    if (!Array.isArray(keys)) throw new SecretProviderError('vault answered a LIST without data.keys');
    return keys.filter((k): k is string => typeof k === 'string' && !k.endsWith('/')).sort();
  }
}

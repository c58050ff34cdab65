/**
 * Where secret values come from, behind one interface: Vault / OpenBao KV v2
 * (secrets/vault.ts), AWS Secrets Manager (secrets/aws.ts) or a directory of
 * files (secrets/files.ts). Every lookup is scoped by tenant: the provider
 * reads `<prefix>/<tenant>/<name>`, and names cannot contain `/` or `..`
 * (domain/secret-binding.ts), so one tenant never reaches another's secret.
 */
import { SECRET_NAME_PATTERN } from '../domain/secret-names.js';

export interface SecretValue {
  readonly value: string;
  /** The provider's version (Vault's version number, AWS's VersionId, a file's mtime). */
  readonly version: string;
}

export interface SecretProvider {
  /** Which provider this is, for messages (`vault`, `aws`, `files`). */
  readonly kind: string;
  /** The value; SecretNotFoundError when there is none, SecretAccessError when the provider refuses. */
  get(tenantId: string, name: string, options?: { version?: string | undefined }): Promise<SecretValue>;
  exists(tenantId: string, name: string): Promise<boolean>;
  /** The names the tenant has (sorted). */
  list(tenantId: string): Promise<string[]>;
}

/** No such secret (or version): never healed by a retry. */
export class SecretNotFoundError extends Error {
  override readonly name = 'SecretNotFoundError';
  readonly retryable = false;
}

/** The provider refused (a bad token, a policy that does not cover the path): never healed by a retry. */
export class SecretAccessError extends Error {
  override readonly name = 'SecretAccessError';
  readonly retryable = false;
}

/** The provider did not answer as it should (down, 5xx, a malformed answer): a retry may heal it. */
export class SecretProviderError extends Error {
  override readonly name = 'SecretProviderError';
  readonly retryable = true;
}

/** `exists` as a `get` that may say "not found": any other failure is the provider's and propagates. */
export async function existsByGet(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get();
    return true;
  } catch (err) {
    if (err instanceof SecretNotFoundError) return false;
    throw err;
  }
}

const TENANT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Checks both parts of a lookup; throws SecretNotFoundError for anything that could escape its folder. */
export function checkLookup(tenantId: string, name: string): void {
  if (!TENANT.test(tenantId)) throw new SecretNotFoundError(`no secret for tenant ${JSON.stringify(tenantId)}: not a tenant id`);
  if (!SECRET_NAME_PATTERN.test(name) || name.includes('..')) throw new SecretNotFoundError(`no secret ${JSON.stringify(name)}: not a secret name`);
}

/** `<prefix>/<tenant>/<name>` with an empty prefix left out. */
export function secretPath(prefix: string, tenantId: string, name: string): string {
  checkLookup(tenantId, name);
  return [prefix, tenantId, name].filter((p) => p.length > 0).join('/');
}

/**
 * A provider whose values are kept for `ttlMs` (the egress proxy reads a
 * value per request); misses are not kept, so a secret created after a
 * failed lookup is found at once.
 */
export class CachedSecrets implements SecretProvider {
  readonly #inner: SecretProvider;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { at: number; value: Promise<SecretValue> }>();

  constructor(inner: SecretProvider, ttlMs: number) {
    this.#inner = inner;
    this.#ttlMs = ttlMs;
  }

  get kind(): string {
    return this.#inner.kind;
  }

  get(tenantId: string, name: string, options?: { version?: string | undefined }): Promise<SecretValue> {
    if (options?.version !== undefined || this.#ttlMs <= 0) return this.#inner.get(tenantId, name, options);
    const key = `${tenantId}\0${name}`;
    const hit = this.#cache.get(key);
    if (hit && Date.now() - hit.at < this.#ttlMs) return hit.value;
    const value = this.#inner.get(tenantId, name);
    this.#cache.set(key, { at: Date.now(), value });
    value.catch(() => this.#cache.delete(key));
    return value;
  }

  exists(tenantId: string, name: string): Promise<boolean> {
    return this.#inner.exists(tenantId, name);
  }

  list(tenantId: string): Promise<string[]> {
    return this.#inner.list(tenantId);
  }
}

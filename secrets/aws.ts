/**
 * AWS Secrets Manager: `GetSecretValue` of `<prefix>/<tenant>/<name>` (its
 * SecretString is the value; a binary secret is refused), `ListSecrets`
 * filtered by the tenant's prefix. Credentials come from the SDK's default
 * chain unless given; `endpoint` points at another server (tests, a VPC
 * endpoint). ResourceNotFoundException is "no such secret", access and
 * decryption errors "refused": neither heals by retrying.
 */
import { GetSecretValueCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Secret } from '../config/secret.js';
import { SecretAccessError, SecretNotFoundError, SecretProviderError, checkLookup, existsByGet, secretPath, type SecretProvider, type SecretValue } from './provider.js';

export interface AwsSecretsOptions {
  readonly region: string;
  readonly endpoint?: string | undefined;
  readonly credentials?: { accessKeyId: string; secretAccessKey: Secret } | undefined;
  readonly prefix: string;
  readonly timeoutMs?: number | undefined;
}

const REFUSED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'DecryptionFailure',
  'ExpiredTokenException',
]);

export class AwsSecrets implements SecretProvider {
  readonly kind = 'aws';
  readonly #client: SecretsManagerClient;
  readonly #prefix: string;

  constructor(options: AwsSecretsOptions) {
    this.#prefix = options.prefix;
    const creds = options.credentials;
    this.#client = new SecretsManagerClient({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(creds ? { credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey.reveal() } } : {}),
      maxAttempts: 2,
      requestHandler: { requestTimeout: options.timeoutMs ?? 10_000 },
    });
  }

  #mapError(err: unknown, what: string): Error {
    const name = (err as { name?: string }).name ?? '';
    const message = (err as Error).message;
    if (name === 'ResourceNotFoundException') return new SecretNotFoundError(`no ${what} in AWS Secrets Manager: ${message}`);
    if (REFUSED.has(name)) return new SecretAccessError(`AWS Secrets Manager refused ${what} (${name}: ${message})`);
    return new SecretProviderError(`AWS Secrets Manager failed for ${what} (${name || 'error'}: ${message})`);
  }

  async get(tenantId: string, name: string, options?: { version?: string | undefined }): Promise<SecretValue> {
    const id = secretPath(this.#prefix, tenantId, name);
    const what = `secret ${name}${options?.version ? ` version ${options.version}` : ''}`;
    try {
      const out = await this.#client.send(new GetSecretValueCommand({ SecretId: id, ...(options?.version ? { VersionId: options.version } : {}) }));
      if (typeof out.SecretString !== 'string') throw new SecretNotFoundError(`${what} in AWS Secrets Manager is binary; only SecretString values are used`);
      return { value: out.SecretString, version: out.VersionId ?? '' };
    } catch (err) {
      if (err instanceof SecretNotFoundError) throw err;
      throw this.#mapError(err, what);
    }
  }

  exists(tenantId: string, name: string): Promise<boolean> {
    return existsByGet(() => this.get(tenantId, name));
  }


  async list(tenantId: string): Promise<string[]> {
    checkLookup(tenantId, 'x');
    const folder = `${[this.#prefix, tenantId].filter(Boolean).join('/')}/`;
    const names: string[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.#client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [folder] }], NextToken: token }));
        for (const s of out.SecretList ?? []) if (s.Name?.startsWith(folder) && !s.Name.slice(folder.length).includes('/')) names.push(s.Name.slice(folder.length));
        token = out.NextToken;
      } while (token);
    } catch (err) {
      throw this.#mapError(err, `the secrets of tenant ${tenantId}`);
    }
    return names.sort();
  }
}

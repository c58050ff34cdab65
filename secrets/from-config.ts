/** The secret provider a process uses, built from the configuration (SECRETS_PROVIDER and its variables). */
import { resolve } from 'node:path';
import type { Env } from '../config/index.js';
import { AwsSecrets } from './aws.js';
import { FileSecrets } from './files.js';
import { CachedSecrets, type SecretProvider } from './provider.js';
import { VaultSecrets } from './vault.js';

export type SecretsConfig = Pick<
  Env,
  | 'KORTIX_DATA_DIR'
  | 'SECRETS_PROVIDER'
  | 'SECRETS_DIR'
  | 'SECRETS_PREFIX'
  | 'SECRETS_CACHE_TTL'
  | 'VAULT_ADDR'
  | 'VAULT_TOKEN'
  | 'VAULT_NAMESPACE'
  | 'VAULT_KV_MOUNT'
  | 'VAULT_KV_FIELD'
  | 'SECRETS_AWS_REGION'
  | 'SECRETS_AWS_ENDPOINT'
  | 'SECRETS_AWS_ACCESS_KEY_ID'
  | 'SECRETS_AWS_SECRET_ACCESS_KEY'
>;

/** The provider, uncached (the API's existence checks) or with values kept SECRETS_CACHE_TTL (the egress proxy). */
export function secretProviderFromConfig(config: SecretsConfig, options: { cached?: boolean } = {}): SecretProvider {
  let provider: SecretProvider;
  switch (config.SECRETS_PROVIDER) {
    case 'vault':
      if (!config.VAULT_ADDR || !config.VAULT_TOKEN) throw new Error('VAULT_ADDR and VAULT_TOKEN: required with SECRETS_PROVIDER=vault');
      provider = new VaultSecrets({
        address: config.VAULT_ADDR,
        token: config.VAULT_TOKEN,
        namespace: config.VAULT_NAMESPACE,
        mount: config.VAULT_KV_MOUNT,
        prefix: config.SECRETS_PREFIX,
        field: config.VAULT_KV_FIELD,
      });
      break;
    case 'aws':
      provider = new AwsSecrets({
        region: config.SECRETS_AWS_REGION,
        endpoint: config.SECRETS_AWS_ENDPOINT,
        prefix: config.SECRETS_PREFIX,
        credentials:
          config.SECRETS_AWS_ACCESS_KEY_ID && config.SECRETS_AWS_SECRET_ACCESS_KEY
            ? { accessKeyId: config.SECRETS_AWS_ACCESS_KEY_ID, secretAccessKey: config.SECRETS_AWS_SECRET_ACCESS_KEY }
            : undefined,
      });
      break;
    case 'files':
      provider = new FileSecrets(config.SECRETS_DIR ?? resolve(config.KORTIX_DATA_DIR, 'secrets'));
      break;
  }
  return options.cached ? new CachedSecrets(provider, config.SECRETS_CACHE_TTL) : provider;
}

/**
 * The provider when `config` is a loaded configuration (it has SECRETS_PROVIDER); undefined for the
 * partial configurations some tests build. Processes pass their whole Env, so this is the usual path.
 */
export function secretProviderIfConfigured(config: object, options: { cached?: boolean } = {}): SecretProvider | undefined {
  if (!('SECRETS_PROVIDER' in config) || !('KORTIX_DATA_DIR' in config)) return undefined;
  return secretProviderFromConfig(config as SecretsConfig, options);
}

/**
 * Provider instances for the running policy: built on first use from the
 * provider's kind, base URL and key, rebuilt when the policy reloads. Keys are
 * read at the point of use from the configuration's Secrets or the policy's
 * key file, never copied into logs or errors.
 */
import { Secret } from '../../config/secret.js';
import { LlmError } from '../errors.js';
import type { ResolvedModelPolicy, ResolvedProvider } from '../model-policy.js';
import { HashedEmbeddingProvider } from '../hashed-embedder.js';
import type { ChatProvider } from '../types.js';
import { AnthropicProvider } from './anthropic.js';
import { OpenAiCompatibleProvider } from './openai-compatible.js';

export interface ProviderRegistryOptions {
  /** The parsed configuration: `baseUrlEnv` and `apiKeyEnv` name its fields. */
  readonly env: Readonly<Record<string, unknown>>;
  /** LLM_TIMEOUT_MS: a provider's own timeoutMs wins. */
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch | undefined;
  /** Providers given in code, by name (benchmarks, tests): used instead of building them. */
  readonly overrides?: Readonly<Record<string, ChatProvider>> | undefined;
}

/** The providers of the running policy, by name. */
export class ProviderRegistry {
  readonly #o: ProviderRegistryOptions;
  readonly #built = new Map<string, ChatProvider>();
  #policy: ResolvedModelPolicy | undefined;

  constructor(options: ProviderRegistryOptions) {
    this.#o = options;
  }

  #envString(name: string | undefined): string | undefined {
    if (!name) return undefined;
    const value = this.#o.env[name];
    if (value instanceof Secret) return value.reveal();
    return typeof value === 'string' && value !== '' ? value : undefined;
  }

  #apiKey(name: string, config: ResolvedProvider): (() => string) | undefined {
    const fromFile = config.apiKey;
    if (fromFile) return () => fromFile.reveal();
    const keyEnv = config.apiKeyEnv;
    if (!keyEnv) return undefined;
    return () => {
      const key = this.#envString(keyEnv);
      if (!key) throw new LlmError('auth', `provider ${name}: ${keyEnv} is not set`, { provider: name });
      return key;
    };
  }

  /** The provider `name` of `policy` (a new policy drops the providers of the old one). */
  get(policy: ResolvedModelPolicy, name: string): ChatProvider {
    if (policy !== this.#policy) {
      this.#built.clear();
      this.#policy = policy;
    }
    const override = this.#o.overrides && Object.hasOwn(this.#o.overrides, name) ? this.#o.overrides[name] : undefined;
    if (override) return override;
    const existing = this.#built.get(name);
    if (existing) return existing;
    const config = Object.hasOwn(policy.providers, name) ? policy.providers[name] : undefined;
    if (!config) throw new LlmError('bad_request', `unknown provider "${name}"`);
    if (config.kind === 'hashed') {
      const hashed = new HashedEmbeddingProvider(name);
      this.#built.set(name, hashed);
      return hashed;
    }
    const baseUrl = this.#envString(config.baseUrlEnv) ?? config.baseUrl;
    if (!baseUrl) throw new LlmError('bad_request', `provider ${name}: set ${config.baseUrlEnv ?? 'baseUrl'}`, { provider: name });
    const common = { name, baseUrl, timeoutMs: config.timeoutMs ?? this.#o.timeoutMs, fetch: this.#o.fetch, apiKey: this.#apiKey(name, config) };
    const provider =
      config.kind === 'anthropic' ? new AnthropicProvider(common) : new OpenAiCompatibleProvider({ ...common, passMetadata: config.passMetadata });
    this.#built.set(name, provider);
    return provider;
  }
}

/**
 * The model router: a library inside the LLM activity. It picks the model for
 * a request from the model policy, sends it to the model's provider and prices
 * the answer from the policy's price table.
 */
import { Secret } from '../config/secret.js';
import { LlmError } from './errors.js';
import type { ModelConfig, ResolvedModelPolicy } from './model-policy.js';
import { OpenAiCompatibleProvider } from './providers/openai-compatible.js';
import type { ChatAnswer, ChatMessage, ChatProvider, TokenUsage } from './types.js';

export interface RouteRequest {
  readonly tenantId: string;
  readonly sessionId: string;
  /** Matches `policies[].type` of the model policy (simple, research, ...). */
  readonly requestType?: string | undefined;
  /** A model of the policy's table, chosen explicitly; wins over the request type. */
  readonly model?: string | undefined;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly unknown[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export interface RoutedAnswer extends ChatAnswer {
  /** The policy's name of the model (its key in `models`). */
  readonly model: string;
  readonly provider: string;
  readonly providerModel: string;
  readonly costUsd: number;
  readonly latencyMs: number;
}

export interface ModelRouterOptions {
  readonly policy: ResolvedModelPolicy;
  /** The parsed configuration: `baseUrlEnv` and `apiKeyEnv` name its fields. */
  readonly env: Readonly<Record<string, unknown>>;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch;
}

/** Exact cost in USD of one call, from the model's prices per million tokens. */
export function callCostUsd(model: ModelConfig, usage: TokenUsage): number {
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const cachedPrice = model.cachedInputPerMTok ?? model.inputPerMTok;
  const micro =
    (usage.inputTokens - cached) * model.inputPerMTok + cached * cachedPrice + usage.outputTokens * model.outputPerMTok;
  // `micro` is in millionths of a dollar; keep a millionth of a cent (1e-8 $).
  return Math.round(micro * 100) / 1e8;
}

export class ModelRouter {
  readonly #o: ModelRouterOptions;
  readonly #providers = new Map<string, ChatProvider>();

  constructor(options: ModelRouterOptions) {
    this.#o = Object.freeze({ ...options });
  }

  /** The model key serving a request: explicit model → request type → default. */
  choose(request: Pick<RouteRequest, 'model' | 'requestType'>): string {
    const { policy } = this.#o;
    if (request.model !== undefined) {
      if (!Object.hasOwn(policy.models, request.model)) {
        throw new LlmError('bad_request', `unknown model "${request.model}"; known: ${Object.keys(policy.models).join(', ')}`);
      }
      return request.model;
    }
    return (request.requestType !== undefined ? policy.byType.get(request.requestType) : undefined) ?? policy.default;
  }

  #envString(name: string | undefined): string | undefined {
    if (!name) return undefined;
    const value = this.#o.env[name];
    if (value instanceof Secret) return value.reveal();
    return typeof value === 'string' && value !== '' ? value : undefined;
  }

  #provider(name: string): ChatProvider {
    const existing = this.#providers.get(name);
    if (existing) return existing;
    const config = Object.hasOwn(this.#o.policy.providers, name) ? this.#o.policy.providers[name] : undefined;
    if (!config) throw new LlmError('bad_request', `unknown provider "${name}"`);
    if (config.kind !== 'openai-compatible') {
      throw new LlmError('not_supported', `provider kind "${config.kind}" (${name}) is not available in this build`, { provider: name });
    }
    const baseUrl = this.#envString(config.baseUrlEnv) ?? config.baseUrl;
    if (!baseUrl) throw new LlmError('bad_request', `provider ${name}: set ${config.baseUrlEnv ?? 'baseUrl'}`, { provider: name });
    const keyEnv = config.apiKeyEnv;
    const provider = new OpenAiCompatibleProvider({
      name,
      baseUrl,
      timeoutMs: this.#o.timeoutMs,
      passMetadata: config.passMetadata,
      fetch: this.#o.fetch,
      apiKey: keyEnv
        ? () => {
            const key = this.#envString(keyEnv);
            if (!key) throw new LlmError('auth', `provider ${name}: ${keyEnv} is not set`, { provider: name });
            return key;
          }
        : undefined,
    });
    this.#providers.set(name, provider);
    return provider;
  }

  async complete(request: RouteRequest): Promise<RoutedAnswer> {
    const modelKey = this.choose(request);
    const model = this.#o.policy.models[modelKey] as ModelConfig;
    const provider = this.#provider(model.provider);
    const started = performance.now();
    const answer = await provider.complete({
      model: model.model,
      messages: request.messages,
      ...(request.tools ? { tools: request.tools } : {}),
      ...(request.metadata ? { metadata: request.metadata } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    return {
      ...answer,
      model: modelKey,
      provider: model.provider,
      providerModel: model.model,
      costUsd: callCostUsd(model, answer.usage),
      latencyMs: performance.now() - started,
    };
  }
}

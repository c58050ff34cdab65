/**
 * The model policy (router/model_policy.yaml): providers, models with their
 * prices, and which model serves which request type. The seed's shape
 * (`default` + `policies: [{type, model}]`) is valid on its own: providers and
 * models then come from the built-in table below.
 */
import { z } from 'zod';
import { loadYamlFile } from '../config/yaml.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'a name of letters, digits, _ . : -');
const envName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name');

const providerSchema = z
  .object({
    kind: z.enum(['openai-compatible', 'anthropic']),
    baseUrl: z.url().optional(),
    /** A configuration variable that, when set, replaces baseUrl. */
    baseUrlEnv: envName.optional(),
    /** The configuration variable holding the API key (never the key itself). */
    apiKeyEnv: envName.optional(),
    /** Forward the session's metadata (the mock LLM reads its scenario there). */
    passMetadata: z.boolean().default(false),
  })
  .strict()
  .refine((p) => p.baseUrl || p.baseUrlEnv, { message: 'needs baseUrl or baseUrlEnv' });

const modelSchema = z
  .object({
    provider: name,
    /** The model id the provider expects. */
    model: z.string().min(1),
    /** USD per million tokens. */
    inputPerMTok: z.number().nonnegative().default(0),
    outputPerMTok: z.number().nonnegative().default(0),
    cachedInputPerMTok: z.number().nonnegative().optional(),
    contextWindow: z.number().int().positive().default(8192),
  })
  .strict();

export const modelPolicySchema = z
  .object({
    providers: z.record(name, providerSchema).default({}),
    models: z.record(name, modelSchema).default({}),
    default: name,
    policies: z.array(z.object({ type: name, model: name }).strict()).default([]),
  })
  .strict();

export type ModelPolicy = z.infer<typeof modelPolicySchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;

/** Built in, so that the seed's short policy file runs as is. */
export const BUILTIN_PROVIDERS: Record<string, ProviderConfig> = {
  mock: { kind: 'openai-compatible', baseUrlEnv: 'MOCK_LLM_URL', passMetadata: true },
  local: { kind: 'openai-compatible', baseUrlEnv: 'LOCAL_LLM_URL', passMetadata: false },
  openai: { kind: 'openai-compatible', baseUrlEnv: 'OPENAI_BASE_URL', apiKeyEnv: 'OPENAI_API_KEY', passMetadata: false },
  anthropic: { kind: 'anthropic', baseUrlEnv: 'ANTHROPIC_BASE_URL', apiKeyEnv: 'ANTHROPIC_API_KEY', passMetadata: false },
};

export const BUILTIN_MODELS: Record<string, ModelConfig> = {
  mock: { provider: 'mock', model: 'mock', inputPerMTok: 0, outputPerMTok: 0, contextWindow: 128_000 },
  local_llm: { provider: 'local', model: 'llama3.1:8b', inputPerMTok: 0, outputPerMTok: 0, contextWindow: 8192 },
  openai: { provider: 'openai', model: 'gpt-4o-mini', inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075, contextWindow: 128_000 },
  anthropic: { provider: 'anthropic', model: 'claude-3-5-haiku-latest', inputPerMTok: 0.8, outputPerMTok: 4, cachedInputPerMTok: 0.08, contextWindow: 200_000 },
};

/** A policy with the built-in tables merged in and every reference checked. */
export interface ResolvedModelPolicy {
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  readonly models: Readonly<Record<string, ModelConfig>>;
  readonly default: string;
  readonly byType: ReadonlyMap<string, string>;
}

export function resolveModelPolicy(policy: ModelPolicy, file: string): ResolvedModelPolicy {
  const providers = { ...BUILTIN_PROVIDERS, ...policy.providers };
  const models = { ...BUILTIN_MODELS, ...policy.models };
  const problems: string[] = [];
  const has = (table: object, key: string) => Object.hasOwn(table, key);
  for (const [id, model] of Object.entries(models)) {
    if (!has(providers, model.provider)) problems.push(`models.${id}.provider: unknown provider "${model.provider}"`);
  }
  if (!has(models, policy.default)) problems.push(`default: unknown model "${policy.default}"`);
  policy.policies.forEach((p, i) => {
    if (!has(models, p.model)) problems.push(`policies.${i}.model: unknown model "${p.model}"`);
  });
  if (problems.length > 0) throw new Error(`Invalid model policy ${file}:\n  - ${problems.join('\n  - ')}`);
  return { providers, models, default: policy.default, byType: new Map(policy.policies.map((p) => [p.type, p.model])) };
}

export function loadModelPolicy(file: string): ResolvedModelPolicy {
  return resolveModelPolicy(loadYamlFile(file, modelPolicySchema), file);
}

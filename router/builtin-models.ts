/**
 * The providers and models a policy may name without listing them, so that
 * the seed's short policy file runs as is. The models, prices included, are
 * read from router/models.yaml, the one place a model's price is written.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CONFIG_VARIABLES } from '../config/index.js';
import { loadYamlFile } from '../config/yaml.js';
import { modelSchema, name, type ModelConfig, type ProviderConfig } from './model-policy-schema.js';

export const BUILTIN_PROVIDERS: Record<string, ProviderConfig> = {
  mock: { kind: 'mock', baseUrlEnv: 'MOCK_LLM_URL' },
  local: { kind: 'openai-compatible', baseUrlEnv: 'LOCAL_LLM_URL' },
  openai: { kind: 'openai-compatible', baseUrlEnv: 'OPENAI_BASE_URL', apiKeyEnv: 'OPENAI_API_KEY' },
  anthropic: { kind: 'anthropic', baseUrlEnv: 'ANTHROPIC_BASE_URL', apiKeyEnv: 'ANTHROPIC_API_KEY' },
  hashed: { kind: 'hashed' },
};

export const BUILTIN_MODELS_FILE = fileURLToPath(new URL('./models.yaml', import.meta.url));

/**
 * What a model table needs beyond its schema, each problem at its path in the table: a known provider, a `modelEnv`
 * that is a configuration variable, room in the context window for the output. The policy's own models and this
 * file's are checked alike.
 */
export function modelTableProblems(
  models: Readonly<Record<string, ModelConfig>>,
  providers: Readonly<Record<string, ProviderConfig>>,
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  for (const [id, m] of Object.entries(models)) {
    if (m.modelEnv !== undefined && !CONFIG_VARIABLES.has(m.modelEnv)) {
      issues.push({ path: [id, 'modelEnv'], message: `${m.modelEnv} is not a configuration variable (config/index.ts)` });
    }
    if (!Object.hasOwn(providers, m.provider)) issues.push({ path: [id, 'provider'], message: `unknown provider "${m.provider}"` });
    if (m.type === 'chat' && m.maxOutputTokens >= m.contextWindow) {
      issues.push({ path: [id, 'maxOutputTokens'], message: `must be below contextWindow (${m.contextWindow})` });
    }
  }
  return issues;
}

/** Reads a model table; a fault throws YamlFileError with file:line: path. */
export function loadBuiltinModels(file = BUILTIN_MODELS_FILE): Record<string, ModelConfig> {
  return loadYamlFile(
    file,
    z.record(name, modelSchema).superRefine((models, ctx) => {
      for (const issue of modelTableProblems(models, BUILTIN_PROVIDERS)) ctx.addIssue({ code: 'custom', ...issue });
    }),
  );
}

/** Read when the router is first imported: a bad file stops startup naming its file and line. */
export const BUILTIN_MODELS: Record<string, ModelConfig> = loadBuiltinModels();

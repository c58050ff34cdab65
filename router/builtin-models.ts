/**
 * The providers and models a policy may name without listing them, so that
 * the seed's short policy file runs as is. The models, prices included, are
 * read from router/models.yaml, the one place a model's price is written.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
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

/** Reads a model table; a fault throws YamlFileError with file:line: path. */
export function loadBuiltinModels(file = BUILTIN_MODELS_FILE): Record<string, ModelConfig> {
  return loadYamlFile(file, z.record(name, modelSchema));
}

/** Read when the router is first imported: a bad file stops startup naming its file and line. */
export const BUILTIN_MODELS: Record<string, ModelConfig> = loadBuiltinModels();

/**
 * Each model's price is written once, in router/models.yaml: the shipped
 * policies name the built-in models without repeating them, and a bad model
 * table stops startup naming its file and line.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { BUILTIN_MODELS, loadBuiltinModels } from '../../router/builtin-models.js';
import { loadModelPolicy } from '../../router/model-policy.js';

const dir = mkdtempSync(join(tmpdir(), 'builtin-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('built-in models (router/models.yaml)', () => {
  it('prices the cloud models once; both shipped policies use that price', () => {
    expect(BUILTIN_MODELS.gpt_4o).toMatchObject({ provider: 'openai', model: 'gpt-4o', inputPerMTok: 2.5, outputPerMTok: 10, tier: 'large' });
    for (const file of ['router/model_policy.yaml', 'router/model_policy.prod.yaml']) {
      const path = join(REPO_ROOT, file);
      const own = Object.keys((parse(readFileSync(path, 'utf8')) as { models?: Record<string, unknown> }).models ?? {});
      expect(own.filter((k) => k in BUILTIN_MODELS), `${file} repeats a built-in model`).toEqual([]);
      const policy = loadModelPolicy(path);
      expect(policy.models.gpt_4o).toEqual(BUILTIN_MODELS.gpt_4o);
      expect(policy.models.claude_sonnet).toEqual(BUILTIN_MODELS.claude_sonnet);
    }
  });

  it('refuses a bad model table naming the file, the line and the path', () => {
    const file = join(dir, 'models.yaml');
    writeFileSync(file, 'mock: { provider: mock, model: mock }\ngpt_4o:\n  provider: openai\n  model: gpt-4o\n  inputPerMTok: -1\n');
    expect(() => loadBuiltinModels(file)).toThrow(/models\.yaml:5.*gpt_4o\.inputPerMTok/s);
  });

  it('checks what the schema cannot: the provider, modelEnv and the context window, as a policy\'s own models are', () => {
    const file = join(dir, 'refs.yaml');
    writeFileSync(
      file,
      [
        'mock: { provider: mock, model: mock }',
        'ghost: { provider: nowhere, model: m }',
        'envy: { provider: openai, model: m, modelEnv: NOT_A_KORTIX_VARIABLE }',
        'tight: { provider: openai, model: m, contextWindow: 1000, maxOutputTokens: 1000 }',
        '',
      ].join('\n'),
    );
    expect(() => loadBuiltinModels(file)).toThrow(/refs\.yaml:2.*ghost\.provider.*unknown provider "nowhere"/s);
    expect(() => loadBuiltinModels(file)).toThrow(/refs\.yaml:3.*envy\.modelEnv.*NOT_A_KORTIX_VARIABLE is not a configuration variable/s);
    expect(() => loadBuiltinModels(file)).toThrow(/refs\.yaml:4.*tight\.maxOutputTokens.*must be below contextWindow \(1000\)/s);
  });
});

/**
 * The model policy (router/model_policy.yaml) loaded and resolved: its shape
 * is router/model-policy-schema.ts, checked here for references (every model,
 * provider and key file named exists); providers and models not listed come
 * from the built-in tables (router/builtin-models.ts, router/models.yaml), so
 * the seed's shape (`default` + `policies: [{type, model}]`) is valid on its
 * own. Every fault is reported with the file, line and path.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { CONFIG_VARIABLES, Secret } from '../config/index.js';
import { loadYamlFile } from '../config/yaml.js';
import { BUILTIN_MODELS, BUILTIN_PROVIDERS, modelTableProblems } from './builtin-models.js';
import {
  policyObject,
  TIERS,
  type BudgetConfig,
  type ContextOverflow,
  type FallbackChains,
  type ModelConfig,
  type ModelPolicy,
  type ProviderConfig,
  type RouteConfig,
  type Tier,
} from './model-policy-schema.js';

export { BUILTIN_MODELS, BUILTIN_PROVIDERS } from './builtin-models.js';
export * from './model-policy-schema.js';

/** A provider with its key source resolved (a key file is read at load). */
export interface ResolvedProvider extends ProviderConfig {
  readonly passMetadata: boolean;
  readonly apiKey?: Secret | undefined;
}

/** A route of the policy, the seed's `policies` included. */
export interface Route {
  readonly name: string;
  readonly match: RouteConfig['match'];
  readonly model: string;
  readonly fallbacks: FallbackChains;
  readonly cache: { readonly enabled: boolean; readonly ttlSeconds: number; readonly deterministic: boolean };
  readonly temperature?: number | undefined;
  readonly onContextOverflow: ContextOverflow;
  /** The route's semantic cache, resolved; null: off (the default). */
  readonly semanticCache: RouteSemanticCache | null;
}

/** A route's semantic cache with the policy's defaults applied. */
export interface RouteSemanticCache {
  readonly embeddingModel: string;
  readonly threshold: number;
  readonly ttlSeconds: number;
  readonly maxCandidates: number;
  readonly maxTextChars: number;
}

/** A policy with the built-in tables merged in and every reference checked. */
export interface ResolvedModelPolicy {
  /** Where it came from (a file path or a label). */
  readonly source: string;
  readonly providers: Readonly<Record<string, ResolvedProvider>>;
  readonly models: Readonly<Record<string, ModelConfig>>;
  readonly routes: readonly Route[];
  /** The route of requests no route matches: the default model, the policy-wide settings. */
  readonly defaultRoute: Route;
  readonly retries: ModelPolicy['retries'];
  readonly cooldown: ModelPolicy['cooldown'];
  readonly budgets: ModelPolicy['budgets'];
  readonly context: ModelPolicy['context'];
  readonly mergeInFlight: boolean;
  readonly embeddings?: ModelPolicy['embeddings'];
}

type Issue = { path: (string | number)[]; message: string };

/** Reference checks over the merged tables; each problem at its path. */
function referenceProblems(policy: ModelPolicy, baseDir: string): Issue[] {
  const providers = { ...BUILTIN_PROVIDERS, ...policy.providers };
  const models = { ...BUILTIN_MODELS, ...policy.models };
  const issues: Issue[] = [];
  const model = (id: string, path: (string | number)[], type: 'chat' | 'embedding' = 'chat') => {
    if (!Object.hasOwn(models, id)) issues.push({ path, message: `unknown model "${id}"` });
    else if (models[id]?.type !== type) issues.push({ path, message: `model "${id}" is not a ${type} model` });
  };
  const chains = (chains: FallbackChains, path: (string | number)[]) => {
    for (const [cls, list] of Object.entries(chains)) list?.forEach((m, i) => model(m, [...path, cls, i]));
  };
  for (const issue of modelTableProblems(policy.models, providers)) issues.push({ ...issue, path: ['models', ...issue.path] });
  for (const [id, p] of Object.entries(policy.providers)) {
    for (const field of ['baseUrlEnv', 'apiKeyEnv'] as const) {
      const variable = p[field];
      if (variable !== undefined && !CONFIG_VARIABLES.has(variable)) {
        issues.push({ path: ['providers', id, field], message: `${variable} is not a configuration variable (config/index.ts)${field === 'apiKeyEnv' ? '; use apiKeyFile for other keys' : ''}` });
      }
    }
    if (p.apiKeyFile === undefined) continue;
    const file = resolvePath(baseDir, p.apiKeyFile);
    try {
      if (readFileSync(file, 'utf8').trim() === '') issues.push({ path: ['providers', id, 'apiKeyFile'], message: `${file} is empty` });
    } catch (err) {
      issues.push({ path: ['providers', id, 'apiKeyFile'], message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  }
  model(policy.default, ['default']);
  policy.policies.forEach((p, i) => model(p.model, ['policies', i, 'model']));
  if (policy.routes.length > 0 && policy.policies.length > 0) {
    issues.push({ path: ['policies'], message: 'give routes or the short policies list, not both' });
  }
  const seen = new Set<string>();
  policy.routes.forEach((r, i) => {
    if (seen.has(r.name)) issues.push({ path: ['routes', i, 'name'], message: `duplicate route name "${r.name}"` });
    seen.add(r.name);
    model(r.model, ['routes', i, 'model']);
    if (r.fallbacks) chains(r.fallbacks, ['routes', i, 'fallbacks']);
  });
  chains(policy.fallbacks, ['fallbacks']);
  const budgets: [BudgetConfig | undefined, (string | number)[]][] = [
    [policy.budgets.default, ['budgets', 'default']],
    ...Object.entries(policy.budgets.tenants).map(([t, b]): [BudgetConfig, string[]] => [b, ['budgets', 'tenants', t]]),
  ];
  for (const [budget, path] of budgets) {
    if (budget?.onExceeded.action === 'downgrade') model(budget.onExceeded.model, [...path, 'onExceeded', 'model']);
  }
  if (policy.context.summaryModel !== undefined) model(policy.context.summaryModel, ['context', 'summaryModel']);
  if (policy.embeddings) model(policy.embeddings.model, ['embeddings', 'model'], 'embedding');
  const semanticModel = policy.semanticCache.embeddingModel;
  if (semanticModel !== undefined) model(semanticModel, ['semanticCache', 'embeddingModel'], 'embedding');
  policy.routes.forEach((r, i) => {
    if (r.semanticCache?.enabled && semanticModel === undefined && !policy.embeddings) {
      issues.push({ path: ['routes', i, 'semanticCache'], message: 'needs an embedding model: set semanticCache.embeddingModel or embeddings.model' });
    }
  });
  return issues;
}

/** The policy schema; key files and relative paths are read from `baseDir` (the policy file's folder). */
export function modelPolicySchema(baseDir = process.cwd()) {
  return policyObject.superRefine((policy, ctx) => {
    for (const issue of referenceProblems(policy, baseDir)) ctx.addIssue({ code: 'custom', ...issue });
  });
}

function toRoute(r: RouteConfig, policy: ModelPolicy): Route {
  return {
    name: r.name,
    match: r.match,
    model: r.model,
    fallbacks: r.fallbacks ?? policy.fallbacks,
    cache: {
      enabled: r.cache?.enabled ?? policy.cache.enabled,
      ttlSeconds: r.cache?.ttlSeconds ?? policy.cache.ttlSeconds,
      deterministic: r.cache?.deterministic ?? false,
    },
    temperature: r.temperature,
    onContextOverflow: r.onContextOverflow ?? policy.context.onOverflow,
    semanticCache: semanticOf(r, policy),
  };
}

function semanticOf(r: RouteConfig, policy: ModelPolicy): RouteSemanticCache | null {
  const defaults = policy.semanticCache;
  const embeddingModel = defaults.embeddingModel ?? policy.embeddings?.model;
  if (!r.semanticCache?.enabled || embeddingModel === undefined) return null;
  return {
    embeddingModel,
    threshold: r.semanticCache.threshold ?? defaults.threshold,
    ttlSeconds: r.semanticCache.ttlSeconds ?? defaults.ttlSeconds ?? r.cache?.ttlSeconds ?? policy.cache.ttlSeconds,
    maxCandidates: defaults.maxCandidates,
    maxTextChars: defaults.maxTextChars,
  };
}

/** The configuration values a policy may name (`modelEnv`); the parsed configuration in a process. */
export type PolicyEnv = Readonly<Record<string, unknown>>;

/** Each model's id with its `modelEnv` applied, when that variable is set. */
function withModelEnv(models: Record<string, ModelConfig>, env: PolicyEnv): Record<string, ModelConfig> {
  return Object.fromEntries(
    Object.entries(models).map(([id, m]) => {
      const value = m.modelEnv === undefined ? undefined : env[m.modelEnv];
      return [id, typeof value === 'string' && value !== '' ? { ...m, model: value } : m];
    }),
  );
}

/** Builds the running form of a validated policy (reads key files; `env` fills `modelEnv`). */
export function resolveModelPolicy(policy: ModelPolicy, source: string, baseDir = dirname(source), env: PolicyEnv = {}): ResolvedModelPolicy {
  const providers: Record<string, ResolvedProvider> = {};
  for (const [id, p] of Object.entries({ ...BUILTIN_PROVIDERS, ...policy.providers })) {
    const apiKey = p.apiKeyFile === undefined ? undefined : new Secret(readFileSync(resolvePath(baseDir, p.apiKeyFile), 'utf8').trim());
    providers[id] = { ...p, passMetadata: p.passMetadata ?? p.kind === 'mock', apiKey };
  }
  const seedRoutes = policy.policies.map((p): RouteConfig => ({ name: `type:${p.type}`, match: { requestType: [p.type] }, model: p.model }));
  return {
    source,
    providers,
    models: withModelEnv({ ...BUILTIN_MODELS, ...policy.models }, env),
    routes: [...policy.routes, ...seedRoutes].map((r) => toRoute(r, policy)),
    defaultRoute: toRoute({ name: 'default', match: {}, model: policy.default }, policy),
    retries: policy.retries,
    cooldown: policy.cooldown,
    budgets: policy.budgets,
    context: policy.context,
    mergeInFlight: policy.mergeInFlight,
    ...(policy.embeddings ? { embeddings: policy.embeddings } : {}),
  };
}

/** Validates a policy given as an object (tests, code); the error names each path. */
export function parseModelPolicy(input: unknown, source = 'model policy', baseDir = process.cwd(), env: PolicyEnv = {}): ResolvedModelPolicy {
  const result = modelPolicySchema(baseDir).safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new Error(`Invalid model policy ${source}:\n${lines.join('\n')}`);
  }
  return resolveModelPolicy(result.data, source, baseDir, env);
}

/** Reads, validates and resolves a policy file; a fault throws YamlFileError with file:line: path. */
export function loadModelPolicy(file: string, env: PolicyEnv = {}): ResolvedModelPolicy {
  const baseDir = dirname(resolvePath(file));
  return resolveModelPolicy(loadYamlFile(file, modelPolicySchema(baseDir)), file, baseDir, env);
}

/** The budget that applies to a tenant, if any. */
export function budgetFor(policy: ResolvedModelPolicy, tenantId: string): BudgetConfig | undefined {
  return Object.hasOwn(policy.budgets.tenants, tenantId) ? policy.budgets.tenants[tenantId] : policy.budgets.default;
}

/** A model of the policy by key, or undefined (own properties only). */
export function modelOf(policy: ResolvedModelPolicy, key: string): ModelConfig | undefined {
  return Object.hasOwn(policy.models, key) ? policy.models[key] : undefined;
}

/** Why `key` cannot serve a chat request of the policy (unknown, or not a chat model), or undefined. */
export function chatModelProblem(policy: ResolvedModelPolicy, key: string): string | undefined {
  if (modelOf(policy, key)?.type === 'chat') return undefined;
  const known = Object.keys(policy.models).filter((k) => policy.models[k]?.type === 'chat');
  return `unknown model "${key}"; known: ${known.join(', ')}`;
}

/** True when every token of the model is free: budgets never block it. */
export function isFree(model: ModelConfig): boolean {
  return model.inputPerMTok === 0 && model.outputPerMTok === 0 && (model.cachedInputPerMTok ?? 0) === 0 && (model.cacheWritePerMTok ?? 0) === 0;
}

/** The ordinal of a tier (small 0 … large 2). */
export function tierRank(t: Tier): number {
  return TIERS.indexOf(t);
}

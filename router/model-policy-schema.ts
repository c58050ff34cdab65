/**
 * The shape of the model policy (router/model_policy.yaml) as zod schemas and
 * the types they give: providers, models with prices, routes, fallbacks,
 * retries, cooldown, budgets, cache, context and the semantic cache. The
 * checks that need the whole policy (references) are in router/model-policy.ts.
 */
import { z } from 'zod';

export const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'a name of letters, digits, _ . : -');
const envName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name');
const usd = z.number().positive();

/** Complexity tiers, from the cheapest adequate model to the most capable. */
export const TIERS = ['small', 'medium', 'large'] as const;
export type Tier = (typeof TIERS)[number];
const tier = z.enum(TIERS);

/** Error classes that have a fallback chain (`unavailable` uses the server_error chain). */
export const FALLBACK_CLASSES = ['rate_limit', 'timeout', 'server_error', 'context_window', 'model_missing'] as const;
export type FallbackClass = (typeof FALLBACK_CLASSES)[number];

export const providerSchema = z
  .object({
    /**
     * `mock` is an OpenAI-compatible server that also receives the session's metadata;
     * `hashed` embeds in process, without a server (router/hashed-embedder.ts).
     */
    kind: z.enum(['openai-compatible', 'anthropic', 'mock', 'hashed']),
    baseUrl: z.url().optional(),
    /** A configuration variable (config/index.ts) that, when set, replaces baseUrl. */
    baseUrlEnv: envName.optional(),
    /** The configuration variable holding the API key (never the key itself). */
    apiKeyEnv: envName.optional(),
    /** A file holding the API key (a mounted secret), read at load; relative to the policy file. */
    apiKeyFile: z.string().min(1).optional(),
    /** Forward the session's metadata (default: only for kind mock, whose scenarios read it). */
    passMetadata: z.boolean().optional(),
    /** Overrides LLM_TIMEOUT_MS for this provider. */
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict()
  .refine((p) => p.kind === 'hashed' || p.baseUrl || p.baseUrlEnv, { message: 'needs baseUrl or baseUrlEnv' })
  .refine((p) => !(p.apiKeyEnv && p.apiKeyFile), { message: 'give apiKeyEnv or apiKeyFile, not both' });

export const modelSchema = z
  .object({
    provider: name,
    /** The model id the provider expects. */
    model: z.string().min(1),
    /** A configuration variable (config/index.ts) that, when set, replaces model (LOCAL_MODEL: the model `make dev` serves locally). */
    modelEnv: envName.optional(),
    type: z.enum(['chat', 'embedding']).default('chat'),
    /** USD per million tokens. */
    inputPerMTok: z.number().nonnegative().default(0),
    outputPerMTok: z.number().nonnegative().default(0),
    cachedInputPerMTok: z.number().nonnegative().optional(),
    /** Prompt-cache writes (Anthropic); the input price without it. */
    cacheWritePerMTok: z.number().nonnegative().optional(),
    contextWindow: z.number().int().positive().default(8192),
    /** Sent as max_tokens; part of the context-window check and of the budget reservation. */
    maxOutputTokens: z.number().int().positive().default(1024),
    /** The most complex requests this model is adequate for. */
    tier: tier.default('medium'),
    /** Stream answers (usage asked with stream_options.include_usage). */
    stream: z.boolean().default(false),
  })
  .strict();

/**
 * The semantic cache's defaults: 0.92 is where the labelled paraphrase set
 * (bench/workloads/paraphrase-pairs.yaml) had no false hit with the hashed
 * embedder; see the README's numbers before lowering it.
 */
export const SEMANTIC_DEFAULTS = { threshold: 0.92, maxCandidates: 200, maxTextChars: 4000 } as const;

const chain = z.array(name).optional();
const fallbacksSchema = z.object({ rate_limit: chain, timeout: chain, server_error: chain, context_window: chain, model_missing: chain }).strict();

const overflow = z.enum(['trim', 'summarize', 'fail']);
/** A cosine similarity threshold: below 0.5 a "near duplicate" means nothing. */
const similarity = z.number().min(0.5).max(1);

const routeSchema = z
  .object({
    name,
    /** Every condition given must hold; an empty match matches every request. */
    match: z
      .object({
        requestType: z.array(name).min(1).optional(),
        tenant: z.array(z.string().min(1)).min(1).optional(),
        tier: z.array(tier).min(1).optional(),
        minPromptTokens: z.number().int().nonnegative().optional(),
        maxPromptTokens: z.number().int().positive().optional(),
      })
      .strict()
      .refine((m) => m.minPromptTokens === undefined || m.maxPromptTokens === undefined || m.minPromptTokens <= m.maxPromptTokens, {
        message: 'minPromptTokens is above maxPromptTokens',
      })
      .default({}),
    model: name,
    fallbacks: fallbacksSchema.optional(),
    cache: z
      .object({
        enabled: z.boolean().default(true),
        ttlSeconds: z.number().int().positive().optional(),
        /** Cache even without temperature 0 (the route's answers are deterministic enough). */
        deterministic: z.boolean().default(false),
      })
      .strict()
      .optional(),
    temperature: z.number().min(0).max(2).optional(),
    onContextOverflow: overflow.optional(),
    /**
     * Opt-in: near-duplicate requests of this route answered from the cache
     * (router/semantic-cache.ts). Only cacheable requests (temperature 0 or
     * cache.deterministic), after the exact cache missed.
     */
    semanticCache: z
      .object({
        enabled: z.boolean().default(true),
        /** Cosine similarity at or above which a stored answer is reused; default semanticCache.threshold. */
        threshold: similarity.optional(),
        ttlSeconds: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const budgetSchema = z
  .object({
    dailyUsd: usd.optional(),
    monthlyUsd: usd.optional(),
    onExceeded: z
      .discriminatedUnion('action', [
        z.object({ action: z.literal('refuse') }).strict(),
        z.object({ action: z.literal('downgrade'), model: name }).strict(),
      ])
      .default({ action: 'refuse' }),
  })
  .strict()
  .refine((b) => b.dailyUsd !== undefined || b.monthlyUsd !== undefined, { message: 'needs dailyUsd or monthlyUsd' });

export const policyObject = z
  .object({
    providers: z.record(name, providerSchema).default({}),
    models: z.record(name, modelSchema).default({}),
    /** The model of requests no route matches. */
    default: name,
    /** The seed's shape: request type → model (routes in this order, after `routes`). */
    policies: z.array(z.object({ type: name, model: name }).strict()).default([]),
    /** Tried in order; the first whose match holds decides. */
    routes: z.array(routeSchema).default([]),
    /** Chains for routes that list none. */
    fallbacks: fallbacksSchema.default({}),
    retries: z
      .object({
        /** Retries of one deployment inside one activity attempt. */
        maxRetries: z.number().int().min(0).max(5).default(1),
        initialDelayMs: z.number().int().nonnegative().default(200),
        /** A wait longer than this (backoff or Retry-After) is left to a fallback or to Temporal. */
        maxDelayMs: z.number().int().nonnegative().default(2_000),
        retryOn: z.array(z.enum(['rate_limit', 'timeout', 'server_error', 'unavailable'])).default(['rate_limit', 'server_error', 'unavailable']),
      })
      .strict()
      .default({ maxRetries: 1, initialDelayMs: 200, maxDelayMs: 2_000, retryOn: ['rate_limit', 'server_error', 'unavailable'] }),
    cooldown: z
      .object({
        /** Failures of a deployment within the window that put it in cooldown. */
        failures: z.number().int().positive().default(3),
        windowSeconds: z.number().positive().default(60),
        cooldownSeconds: z.number().positive().default(30),
      })
      .strict()
      .default({ failures: 3, windowSeconds: 60, cooldownSeconds: 30 }),
    budgets: z
      .object({ default: budgetSchema.optional(), tenants: z.record(z.string().min(1), budgetSchema).default({}) })
      .strict()
      .default({ tenants: {} }),
    cache: z
      .object({ enabled: z.boolean().default(true), ttlSeconds: z.number().int().positive().default(3600) })
      .strict()
      .default({ enabled: true, ttlSeconds: 3600 }),
    context: z
      .object({
        onOverflow: overflow.default('trim'),
        /** The model that summarises older messages (default: the policy's default model). */
        summaryModel: name.optional(),
        /** Messages at the end of the transcript that trimming and summarising never touch. */
        keepRecentMessages: z.number().int().min(1).default(4),
        /** Estimated tokens are multiplied by this before window checks and reservations. */
        estimateMargin: z.number().min(1).max(2).default(1.1),
      })
      .strict()
      .default({ onOverflow: 'trim', keepRecentMessages: 4, estimateMargin: 1.1 }),
    /** Identical requests in flight at once (same tenant, same key) share one upstream call. */
    mergeInFlight: z.boolean().default(true),
    /** Defaults of the routes that turn the semantic cache on (routes[].semanticCache). */
    semanticCache: z
      .object({
        /** The embedding model of the lookups; default embeddings.model. */
        embeddingModel: name.optional(),
        threshold: similarity.default(SEMANTIC_DEFAULTS.threshold),
        /** Stored answers compared per lookup (the newest of the tenant's scope): bounds the time and bytes of one lookup. */
        maxCandidates: z.number().int().min(1).max(5000).default(SEMANTIC_DEFAULTS.maxCandidates),
        /** A longer last user message is not looked up (nor embedded). */
        maxTextChars: z.number().int().min(1).max(100_000).default(SEMANTIC_DEFAULTS.maxTextChars),
        /** Default: cache.ttlSeconds. */
        ttlSeconds: z.number().int().positive().optional(),
      })
      .strict()
      .default(SEMANTIC_DEFAULTS),
    embeddings: z
      .object({
        model: name,
        batch: z
          .object({ windowMs: z.number().int().nonnegative().max(1000).default(5), maxInputs: z.number().int().positive().default(64) })
          .strict()
          .default({ windowMs: 5, maxInputs: 64 }),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ModelPolicy = z.infer<typeof policyObject>;
export type SemanticCacheDefaults = ModelPolicy['semanticCache'];
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type FallbackChains = z.infer<typeof fallbacksSchema>;
export type BudgetConfig = z.infer<typeof budgetSchema>;
export type ContextOverflow = z.infer<typeof overflow>;

/**
 * The one configuration module. Every process (api, worker, mock LLM, scripts)
 * parses its environment here once, at start; a bad value stops the process
 * with a message naming the variable. Nothing else reads `process.env`.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { Secret } from './secret.js';

export { Secret } from './secret.js';

/** Repository root, for defaults that point at files shipped in the repo. */
export const REPO_ROOT = resolve(import.meta.dirname, '..');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const boolFlag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const url = z.url();
const optionalSecret = z
  .string()
  .min(1)
  .optional()
  .transform((v) => (v === undefined ? undefined : new Secret(v)));

const envSchema = z.object({
  KORTIX_ENV: z.enum(['dev', 'test', 'prod']).default('dev'),
  /** Where `make dev` keeps its state: Temporal's SQLite file, the embedded Postgres, logs, demo keys. */
  KORTIX_DATA_DIR: z.string().min(1).default(resolve(REPO_ROOT, '.data')),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),

  // Temporal
  TEMPORAL_ADDRESS: z.string().min(3).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_URL: url.default('http://127.0.0.1:8233'),
  /** Prefix of every task queue name: lets several deployments (or test files) share one server. */
  TASK_QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes')
    .default('kortix'),
  /** A workflow bundle built ahead of time (`npm run build:bundle`); the worker bundles at start without it. */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),

  // Postgres
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  DATABASE_POOL_MAX: positiveInt.default(10),

  // API
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: port.default(8000),
  API_BODY_LIMIT_BYTES: positiveInt.default(1024 * 1024),
  PUBLIC_API_URL: url.optional(),

  // Worker
  WORKER_HOST_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore')
    .default(hostname()),
  WORKER_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  WORKER_HEALTH_PORT: port.default(8001),
  WORKER_ROLES: z
    .string()
    .default('sessions,sandbox')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(['sessions', 'sandbox'])).min(1)),
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.default(50),

  // Sandbox
  DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
  SANDBOX_IMAGE: z.string().min(1).default('kortix/sandbox:dev'),
  SANDBOX_MEMORY_MB: positiveInt.default(512),
  SANDBOX_CPUS: z.coerce.number().positive().max(64).default(1),
  SANDBOX_PIDS_LIMIT: positiveInt.default(256),
  SANDBOX_WORKSPACE_MB: positiveInt.default(256),
  SANDBOX_OUTPUT_LIMIT_BYTES: positiveInt.default(64 * 1024),
  /** A seccomp profile (JSON) for sandbox containers; Docker's default profile applies without it. */
  SANDBOX_SECCOMP_PROFILE: z.string().min(1).optional(),

  // Model router
  MODEL_POLICY_FILE: z.string().min(1).default(resolve(REPO_ROOT, 'router/model_policy.yaml')),
  MOCK_LLM_URL: url.default('http://127.0.0.1:8100/v1'),
  LOCAL_LLM_URL: url.default('http://127.0.0.1:11434/v1'),
  OPENAI_BASE_URL: url.default('https://api.openai.com/v1'),
  OPENAI_API_KEY: optionalSecret,
  ANTHROPIC_BASE_URL: url.default('https://api.anthropic.com'),
  ANTHROPIC_API_KEY: optionalSecret,
  LLM_TIMEOUT_MS: positiveInt.default(120_000),

  // Policies
  POLICIES_DIR: z.string().min(1).default(resolve(REPO_ROOT, 'policies/templates')),
  DEFAULT_POLICY: z.string().min(1).default('standard'),

  // Mock LLM server
  MOCK_LLM_HOST: z.string().min(1).default('127.0.0.1'),
  MOCK_LLM_PORT: port.default(8100),
  MOCK_LLM_SCENARIOS_DIR: z.string().min(1).default(resolve(REPO_ROOT, 'mock-llm/scenarios')),

  // Observability
  METRICS_ENABLED: boolFlag.default(true),
  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
});

export type Env = z.infer<typeof envSchema>;

/** Raised when the environment does not describe a runnable configuration. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses and freezes the configuration; throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Env> {
  // Empty strings mean "unset", as in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join('.') || '(environment)';
        const key = issue.path[0];
        const secretish = typeof key === 'string' && /KEY|SECRET|TOKEN|PASSWORD/.test(key);
        const raw = typeof key === 'string' && !secretish ? cleaned[key] : undefined;
        // A URL's password is a secret too.
        const got = raw?.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
        return `${name}: ${issue.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`;
      }),
    );
  }
  const config = parsed.data;
  for (const value of Object.values(config)) if (Array.isArray(value)) Object.freeze(value);
  return Object.freeze(config);
}

/** `DATABASE_URL` or a clear stop: every process that talks to Postgres calls this. */
export function requireDatabaseUrl(config: Readonly<Env>): string {
  if (!config.DATABASE_URL) {
    throw new ConfigError([
      'DATABASE_URL: required (for example postgres://postgres@127.0.0.1:5432/kortix); `make dev` starts an embedded Postgres and sets it',
    ]);
  }
  return config.DATABASE_URL;
}

/**
 * Entry points call this: the config, or the process stops with the message.
 * Never logs values of secrets (they are Secret instances).
 */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Readonly<Env> {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

/**
 * The one configuration module. Every process (api, worker, mock LLM, scripts)
 * parses its environment here once, at start; a bad value stops the process
 * with a message naming the variable. Nothing else reads `process.env`.
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseDurationMs } from '../domain/duration.js';
import { Secret } from './secret.js';
import { retentionClassesSchema } from './retention.js';

export { Secret } from './secret.js';

/** Repository root, for defaults that point at files shipped in the repo. */
export const REPO_ROOT = resolve(import.meta.dirname, '..');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const boolFlag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const url = z.url();
/** `250ms`, `30s`, `10m`, `2h`, `1d`, `1h30m` → whole milliseconds (the policies' grammar, domain/duration.ts). */
const duration = z
  .string()
  .refine((v) => parseDurationMs(v) !== undefined, 'a duration such as 500ms, 30s, 10m, 2h or 1h30m')
  .transform((v) => Math.round(parseDurationMs(v) ?? 0));
/** A duration in ms, or `0` for off. */
const durationOrOff = (message: string) =>
  z
    .string()
    .refine((v) => v === '0' || parseDurationMs(v) !== undefined, message)
    .transform((v) => (v === '0' ? 0 : Math.round(parseDurationMs(v) ?? 0)));
/** SESSION_START_DEADLINE's default: 10 minutes. */
export const DEFAULT_START_DEADLINE_MS = 600_000;
/** How often a long activity heartbeats (activities/heartbeat.ts). */
export const HEARTBEAT_EVERY_MS = 2_000;
/** A heartbeat timeout below this would time out activities that heartbeat on time (the SDK also throttles them). */
const MIN_HEARTBEAT_TIMEOUT_MS = 3_000;
const optionalSecret = z
  .string()
  .min(1)
  .optional()
  .transform((v) => (v === undefined ? undefined : new Secret(v)));

/**
 * The warm pool's defaults (SANDBOX_POOL_*), defined here once: a
 * DockerSandboxHost built without pool settings (tests, benches) gets these too.
 */
export const SANDBOX_POOL_DEFAULTS = {
  minIdle: 2,
  maxTotal: 16,
  maxAgeMs: 30 * 60_000,
  whenEmpty: 'cold',
  waitTimeoutMs: 60_000,
  healthIntervalMs: 30_000,
} as const;
/**
 * How often the engine runs the sandbox image's own health check in each sandbox (SANDBOX_ENGINE_HEALTHCHECK_INTERVAL):
 * every check is an exec in the container, so every 5 minutes rather than the image's 30 s (sandbox/container-spec.ts).
 */
export const SANDBOX_ENGINE_HEALTHCHECK_DEFAULT_MS = 300_000;
/** Below this the engine's checks alone would keep a host busy. */
const MIN_ENGINE_HEALTHCHECK_MS = 5_000;
/** What SANDBOX_ENGINE_HEALTHCHECK_INTERVAL takes: said for a value that is no duration and for one too short alike. */
const ENGINE_HEALTHCHECK_EXPECTED = 'a duration of at least 5s such as 5m, or 0 (no engine health check)';

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
  /** How often the maintenance schedule runs (partitions ahead, expired cache rows and reservations, ledger retention); 0 turns the schedule off. */
  MAINTENANCE_INTERVAL: durationOrOff('a duration such as 30m or 6h, or 0 for off').default(3_600_000),
  /** Months of the `llm_calls` ledger kept (whole monthly partitions older than that are dropped); 0 keeps them all. */
  LLM_CALLS_RETENTION_MONTHS: z.coerce.number().int().min(0).default(0),
  /** Retention classes (config/retention.ts): JSON merged over the built-in short, standard and long. */
  RETENTION_CLASSES: retentionClassesSchema,
  /** The class of a tenant without a row in tenant_retention. */
  RETENTION_DEFAULT_CLASS: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/).default('standard'),
  /** Whether the maintenance schedule moves months past the hot window to the object store (and expires artifacts). */
  RETENTION_ARCHIVE: boolFlag.default(true),

  // API
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: port.default(8000),
  API_BODY_LIMIT_BYTES: positiveInt.default(1024 * 1024),
  /** Whether the API's /readyz checks the Docker engine too (off where the API has no socket). */
  READINESS_CHECK_DOCKER: boolFlag.default(true),
  PUBLIC_API_URL: url.optional(),
  /**
   * How fast a session gives up on a sandbox host (set when the session starts): an activity
   * heartbeat missed this long means a crashed host (workflow default 30s), and its sandbox queue
   * left without a poller this long means the host is gone (default 5m). Lower on fleets that
   * replace dead hosts fast; the cluster tests use seconds.
   */
  SESSION_HEARTBEAT_TIMEOUT: duration
    .refine((ms) => ms >= MIN_HEARTBEAT_TIMEOUT_MS, `at least ${MIN_HEARTBEAT_TIMEOUT_MS / 1000}s: activities heartbeat every ${HEARTBEAT_EVERY_MS / 1000}s`)
    .optional(),
  SESSION_SANDBOX_SCHEDULE_TO_START: duration.optional(),
  /**
   * Read by the API: sessions it starts from then on run their model calls as local activities in the worker
   * that runs them (one activity task and one workflow task fewer per step; README, "Model calls as local
   * activities"). Running sessions keep what they started with; set on a worker it does nothing. Off: a model
   * call is a regular activity, visible as its own in the Temporal UI, and a signal or query is taken during it.
   */
  SESSION_LOCAL_MODEL_CALLS: boolFlag.default(false),
  /**
   * Read by the API for the sessions it starts: a session that holds a sandbox and waits on people (an approval
   * gate, or a follow-up message after its answer) for longer than this parks it: its workspace is saved as an
   * artifact, the container goes and its pool slot with it, and the next tool call claims a sandbox again with the
   * workspace restored (README, "Parked sandboxes"). Not when a process still runs in the sandbox or the policy
   * lets it be granted hosts. 0 never parks.
   */
  /**
   * POST /v1/sessions answers once the session is written and starts its workflow after (api/session-starter.ts);
   * a start Temporal does not accept is tried again until this long after the POST, then the session fails
   * saying why.
   */
  SESSION_START_DEADLINE: duration.default(DEFAULT_START_DEADLINE_MS),
  SESSION_SANDBOX_PARK_AFTER: durationOrOff('a duration such as 30s, 5m or 1h, or 0 (never park)').default(300_000),
  /**
   * Fair sharing, per tenant (a row in tenant_limits overrides each): sessions running at once,
   * sandboxes held at once, open SSE streams, API requests per second (a token bucket of
   * TENANT_REQUEST_BURST) and the largest idleTimeoutSeconds a session may ask for.
   */
  TENANT_MAX_RUNNING_SESSIONS: z.coerce.number().int().min(0).default(20),
  TENANT_MAX_SANDBOXES: z.coerce.number().int().min(0).default(20),
  TENANT_MAX_SSE_STREAMS: z.coerce.number().int().min(0).default(50),
  TENANT_REQUESTS_PER_SECOND: z.coerce.number().positive().default(50),
  TENANT_REQUEST_BURST: positiveInt.default(100),
  TENANT_MAX_IDLE_TIMEOUT_SECONDS: z.coerce.number().int().min(0).max(86_400).default(3_600),

  // Worker
  WORKER_HOST_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore')
    .default(hostname()),
  WORKER_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  WORKER_HEALTH_PORT: port.default(8001),
  /** The Temporal SDK's own worker metrics (Prometheus, on WORKER_HEALTH_HOST); 0 turns them off. */
  WORKER_SDK_METRICS_PORT: port.default(9464),
  WORKER_ROLES: z
    .string()
    .default('sessions,sandbox')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(['sessions', 'sandbox'])).min(1)),
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.default(50),
  /**
   * Workflow tasks a worker runs at once (unset: the SDK's 40). A session calling its model as a local activity
   * (SESSION_LOCAL_MODEL_CALLS) holds one for the whole call.
   */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt.min(2).optional(),
  /** Local activities (local model calls) a worker runs at once (unset: the SDK's 100). */
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: positiveInt.optional(),
  /** Workflows kept in the worker's cache (unset: the SDK's default, from the heap size); see the README's Numbers. */
  WORKER_MAX_CACHED_WORKFLOWS: positiveInt.min(2).optional(),
  /**
   * V8's old-generation growing factor in the worker process, 1 + N/100 (0: V8's own, which lets a heap grow to
   * several times what is live before it collects): most of a busy worker's heap was garbage not collected yet,
   * and with 20 its peak at 200 sessions is ~0.6 of V8's own (README, Numbers). Applied at start (temporal/worker-main.ts).
   */
  WORKER_HEAP_GROWING_PERCENT: z.coerce.number().int().min(0).max(1000).default(20),
  /** Workflow stack traces (the `__stack_trace` query; temporal/workflow-stack-traces.ts): `lazy` (also true) formats a
   * stack when a query reads it, `eager` is the SDK's hook formatting each, `off` (also false) answers "not enabled". */
  WORKER_WORKFLOW_STACK_TRACES: z
    .enum(['lazy', 'eager', 'off', '1', '0', 'true', 'false', 'yes', 'no'])
    .transform((v) => (v === 'eager' || v === 'off' ? v : ['0', 'false', 'no'].includes(v) ? 'off' : 'lazy'))
    .default('lazy'),
  /** Task pollers per worker: `fixed` (the SDK's 10 per kind) or `autoscaling` (the SDK's 1..100, by load). */
  WORKER_POLLERS: z.enum(['fixed', 'autoscaling']).default('fixed'),

  // Sandbox
  DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
  SANDBOX_IMAGE: z.string().min(1).default('kortix/sandbox:dev'),
  /** Per sandbox, its browser included (~90 MB idle, a few hundred with heavy pages): 1 GB. */
  SANDBOX_MEMORY_MB: positiveInt.default(1024),
  SANDBOX_CPUS: z.coerce.number().positive().max(64).default(1),
  /** Threads count: an idle browser holds ~75, each page ~15 more. */
  SANDBOX_PIDS_LIMIT: positiveInt.default(512),
  SANDBOX_WORKSPACE_MB: positiveInt.default(256),
  SANDBOX_OUTPUT_LIMIT_BYTES: positiveInt.default(64 * 1024),
  /** The seccomp profile (JSON) of sandbox containers: the repo's, narrower than Docker's default. */
  SANDBOX_SECCOMP_PROFILE: z.string().min(1).default(resolve(REPO_ROOT, 'sandbox/seccomp.json')),
  SANDBOX_TMP_MB: positiveInt.default(64),
  /** Warm pool (sandbox/pool.ts): idle containers kept started, and at most this many containers on the host. */
  SANDBOX_POOL_MIN_IDLE: z.coerce.number().int().min(0).max(256).default(SANDBOX_POOL_DEFAULTS.minIdle),
  SANDBOX_POOL_MAX_TOTAL: positiveInt.max(1024).default(SANDBOX_POOL_DEFAULTS.maxTotal),
  /** Idle containers older than this are replaced. */
  SANDBOX_POOL_MAX_AGE: duration.default(SANDBOX_POOL_DEFAULTS.maxAgeMs),
  /** With no idle container: start one for the claim (`cold`), or wait for the pool to refill (`wait`). */
  SANDBOX_POOL_WHEN_EMPTY: z.enum(['cold', 'wait']).default(SANDBOX_POOL_DEFAULTS.whenEmpty),
  /** How long a claim waits for room before it fails (and is retried, maybe by another host). */
  SANDBOX_POOL_WAIT_TIMEOUT: duration.default(SANDBOX_POOL_DEFAULTS.waitTimeoutMs),
  /**
   * When a claim waits for room, park the sandbox of a session that has not run a tool for this long (it waits on
   * its model): workspace saved, container released, the session's next call claims again with it restored
   * (activities/sandbox-evictor.ts). 0 (default): a session keeps its sandbox between steps.
   */
  SANDBOX_POOL_EVICT_IDLE: durationOrOff('a duration such as 500ms or 2s, or 0 (never)').default(0),
  SANDBOX_POOL_HEALTH_INTERVAL: duration.default(SANDBOX_POOL_DEFAULTS.healthIntervalMs),
  /**
   * How often Docker runs the sandbox image's HEALTHCHECK in each sandbox (what `docker ps` shows as healthy);
   * 0: not at all. The pool's own probes (SANDBOX_POOL_HEALTH_INTERVAL) do not depend on it.
   */
  SANDBOX_ENGINE_HEALTHCHECK_INTERVAL: durationOrOff(ENGINE_HEALTHCHECK_EXPECTED)
    .refine((ms) => ms === 0 || ms >= MIN_ENGINE_HEALTHCHECK_MS, ENGINE_HEALTHCHECK_EXPECTED)
    .default(SANDBOX_ENGINE_HEALTHCHECK_DEFAULT_MS),
  /**
   * The browser of each sandbox (sandbox/browser-host.ts): `prewarm` starts it while the container waits
   * in the pool (the health probe checks it), `lazy` at the session's first browser action, `off`: no browser tool.
   */
  SANDBOX_BROWSER: z.enum(['prewarm', 'lazy', 'off']).default('prewarm'),
  /** V8 heap cap of each page in the sandbox browser (MB): a page allocating without end crashes its tab, not the sandbox. */
  SANDBOX_BROWSER_HEAP_MB: positiveInt.max(4096).default(256),
  /** Downloads of one browser action together at most (MB), saved to /workspace/downloads; they wait in /tmp, so below SANDBOX_TMP_MB. */
  SANDBOX_BROWSER_DOWNLOAD_MAX_MB: positiveInt.max(4096).default(16),
  /** The allowlisting egress proxy, on the gateway of the host's internal sandbox network. */
  SANDBOX_EGRESS_PROXY_PORT: port.min(1).default(3128),
  /** `auto`: firewall the egress network's bridge when iptables works (else warn); `on`: required; `off`: never. With KORTIX_ENV=prod it is always required. */
  SANDBOX_EGRESS_FIREWALL: z.enum(['auto', 'on', 'off']).default('auto'),
  /** Connections one sandbox may hold to the egress proxy at once (more are answered 429). */
  SANDBOX_EGRESS_MAX_CONNECTIONS: positiveInt.max(10_000).default(64),
  /** An egress connection or tunnel with no traffic for this long is closed. */
  SANDBOX_EGRESS_IDLE_TIMEOUT: duration.default(5 * 60_000),

  // Model router
  MODEL_POLICY_FILE: z.string().min(1).default(resolve(REPO_ROOT, 'router/model_policy.yaml')),
  MOCK_LLM_URL: url.default('http://127.0.0.1:8100/v1'),
  LOCAL_LLM_URL: url.default('http://127.0.0.1:11434/v1'),
  /**
   * The model the local server (Ollama) serves for the policy's local models (built-in local_llm: `modelEnv: LOCAL_MODEL`).
   * Set, `make dev` runs `ollama serve` on loopback with its models under KORTIX_DATA_DIR/ollama (`kortix-tiny` is made there; any other is pulled by you).
   * `make dev` also takes a GGUF file's path (`*.gguf`): it creates the model from it, named after the file, and gives the platform that name.
   */
  LOCAL_MODEL: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:/-]*$|^[^\0]*\.gguf$/i, 'an Ollama model name such as qwen2.5:0.5b, or a GGUF file (make dev)')
    .optional(),
  OPENAI_BASE_URL: url.default('https://api.openai.com/v1'),
  OPENAI_API_KEY: optionalSecret,
  ANTHROPIC_BASE_URL: url.default('https://api.anthropic.com'),
  ANTHROPIC_API_KEY: optionalSecret,
  LLM_TIMEOUT_MS: positiveInt.default(120_000),
  /** Reload MODEL_POLICY_FILE when it changes (a bad edit keeps the running policy); default on in dev. */
  MODEL_POLICY_WATCH: boolFlag.optional(),

  // Policies
  /** Holds `templates/*.yaml` (for every tenant) and `tenants/<tenant id>/*.yaml` (a tenant's own). */
  POLICIES_DIR: z.string().min(1).default(resolve(REPO_ROOT, 'policies')),
  DEFAULT_POLICY: z.string().min(1).default('standard'),

  // Approval votes
  /** Signs each vote the API sends to a session (activities/vote-proof.ts); API and workers must share it. Required with KORTIX_ENV=prod. */
  VOTE_SIGNING_KEY: optionalSecret,

  // Payload encryption (temporal/codec/): Temporal payloads of tenant workflows, AES-256-GCM with a key per tenant
  /** JSON keyring `{"tenants": {"<tenant>": [{"version": 1, "key": "<base64 of 32 bytes>"}]}}`, re-read when it changes. Required with KORTIX_ENV=prod; elsewhere default `<KORTIX_DATA_DIR>/payload-keys.json` if present, over a derived dev key (version 1). */
  PAYLOAD_CODEC_RING: z.string().min(1).optional(),
  /** Signs the codec login cookie the Temporal Web UI sends to /v1/codec (api/codec-login.ts); unset: derived from VOTE_SIGNING_KEY (which prod requires). */
  CODEC_LOGIN_KEY: optionalSecret,
  /** How long a codec login (the cookie of `POST /v1/codec/login`) decodes before the operator logs in again. */
  CODEC_LOGIN_TTL: duration.default(60 * 60_000),

  // Slack (approval gates with buttons)
  SLACK_API_URL: url.default('https://slack.com/api'),
  SLACK_BOT_TOKEN: optionalSecret,
  SLACK_SIGNING_SECRET: optionalSecret,
  /** YAML mapping Slack user ids to a tenant, principal and roles (slack/users.ts). */
  SLACK_USERS_FILE: z.string().min(1).optional(),

  // Mock LLM server
  MOCK_LLM_HOST: z.string().min(1).default('127.0.0.1'),
  MOCK_LLM_PORT: port.default(8100),
  MOCK_LLM_SCENARIOS_DIR: z.string().min(1).default(resolve(REPO_ROOT, 'mock-llm/scenarios')),

  // Object store (storage/): artifacts, workspace tarballs, archived partitions
  /** `local`: a directory (OBJECT_STORE_DIR, the default of `make dev`); `s3`: any S3-compatible server (S3_*). */
  OBJECT_STORE: z.enum(['local', 's3']).default('local'),
  /** The local driver's directory; default `<KORTIX_DATA_DIR>/objects`. */
  OBJECT_STORE_DIR: z.string().min(1).optional(),
  /** An S3-compatible endpoint (SeaweedFS, MinIO, ...); unset means AWS S3 itself. */
  S3_ENDPOINT: url.optional(),
  /** The bucket; required with OBJECT_STORE=s3. */
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 lowercase letters, digits, dots, dashes)')
    .optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** Static credentials; unset uses the AWS SDK's default chain (instance role, AWS_* variables). Set both or neither. */
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: optionalSecret,
  /** Path-style URLs (`endpoint/bucket/key`), which S3-compatible servers need; off for virtual-hosted AWS buckets. */
  S3_FORCE_PATH_STYLE: boolFlag.default(true),
  /** How long a presigned download URL (GET /v1/sessions/:id/artifacts/:sha?redirect=presigned) stays valid. */
  S3_PRESIGN_EXPIRES: duration.default(15 * 60_000),
  /**
   * Temporal payloads (encrypted) of at least this many bytes go to the object store under temporal-payloads/ and
   * travel as a reference (Temporal External Storage, temporal/payload-storage.ts): a model's long answer or big
   * tool-call arguments. 0: never (all inline, up to Temporal's own 2 MB refusal).
   */
  TEMPORAL_PAYLOAD_OFFLOAD_BYTES: z.coerce.number().int().min(0).max(2 * 1024 * 1024).default(128 * 1024),
  /** Per tenant (a row in tenant_limits overrides each): the largest one artifact, and all of a tenant's artifacts together. */
  TENANT_MAX_ARTIFACT_BYTES: z.coerce.number().int().min(0).default(256 * 1024 * 1024),
  TENANT_MAX_ARTIFACT_TOTAL_BYTES: z.coerce.number().int().min(0).default(10 * 1024 * 1024 * 1024),

  // Secrets for agents (secrets/): values by name, per tenant, at `<prefix>/<tenant>/<name>`
  /** `files`: SECRETS_DIR/<tenant>/<name>; `vault`: Vault / OpenBao KV v2 (VAULT_*); `aws`: AWS Secrets Manager (SECRETS_AWS_*). */
  SECRETS_PROVIDER: z.enum(['files', 'vault', 'aws']).default('files'),
  /** The files provider's directory; default `<KORTIX_DATA_DIR>/secrets`. */
  SECRETS_DIR: z.string().min(1).optional(),
  /** Folder of Kortix's secrets in Vault's mount or AWS's names (`kortix/<tenant>/<name>`); empty for none. */
  SECRETS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'path segments of letters, digits, _ . -').default('kortix'),
  /** How long the egress proxy keeps a value it read (a rotated secret is used after at most this long). */
  SECRETS_CACHE_TTL: duration.default(30_000),
  VAULT_ADDR: url.optional(),
  VAULT_TOKEN: optionalSecret,
  VAULT_NAMESPACE: z.string().min(1).optional(),
  VAULT_KV_MOUNT: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a mount path such as secret').default('secret'),
  /** The field of a KV secret's data that holds the value. */
  VAULT_KV_FIELD: z.string().min(1).default('value'),
  SECRETS_AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Another Secrets Manager endpoint (a VPC endpoint; the tests' fake); unset: AWS itself. */
  SECRETS_AWS_ENDPOINT: url.optional(),
  /** Static credentials; unset uses the AWS SDK's default chain. Set both or neither. */
  SECRETS_AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  SECRETS_AWS_SECRET_ACCESS_KEY: optionalSecret,
  /** The egress proxy's CA (ca.pem, ca-key.pem), made there at first start when missing; default `<KORTIX_DATA_DIR>/egress-ca`. */
  SANDBOX_EGRESS_CA_DIR: z.string().min(1).optional(),
  /** PEM certificates the proxy trusts for upstream servers beside the system's roots (tests; a corporate CA). */
  SANDBOX_EGRESS_UPSTREAM_CA_FILE: z.string().min(1).optional(),

  // Observability
  METRICS_ENABLED: boolFlag.default(true),
  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
});

export type Env = z.infer<typeof envSchema>;

/** Names of every configuration variable: a model policy may name these (baseUrlEnv, apiKeyEnv), no others. */
export const CONFIG_VARIABLES: ReadonlySet<string> = new Set(Object.keys(envSchema.shape));

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
  if (config.SANDBOX_POOL_MIN_IDLE > config.SANDBOX_POOL_MAX_TOTAL) {
    throw new ConfigError([
      `SANDBOX_POOL_MIN_IDLE: ${config.SANDBOX_POOL_MIN_IDLE} is more than SANDBOX_POOL_MAX_TOTAL (${config.SANDBOX_POOL_MAX_TOTAL})`,
    ]);
  }
  if (config.KORTIX_ENV === 'prod' && config.SANDBOX_EGRESS_FIREWALL === 'off') {
    throw new ConfigError(['SANDBOX_EGRESS_FIREWALL: "off" is refused with KORTIX_ENV=prod (the egress firewall is required in production)']);
  }
  if (config.KORTIX_ENV === 'prod' && (config.VOTE_SIGNING_KEY?.reveal().length ?? 0) < 32) {
    throw new ConfigError(['VOTE_SIGNING_KEY: required with KORTIX_ENV=prod, at least 32 characters, the same for the API and every worker']);
  }
  if (config.KORTIX_ENV === 'prod' && config.CODEC_LOGIN_KEY && config.CODEC_LOGIN_KEY.reveal().length < 32) {
    throw new ConfigError(['CODEC_LOGIN_KEY: at least 32 characters with KORTIX_ENV=prod']);
  }
  if (config.KORTIX_ENV === 'prod' && !config.PAYLOAD_CODEC_RING) {
    throw new ConfigError(['PAYLOAD_CODEC_RING: required with KORTIX_ENV=prod (the keyring that encrypts Temporal payloads per tenant; no dev key in production)']);
  }
  if (config.OBJECT_STORE === 's3' && !config.S3_BUCKET) {
    throw new ConfigError(['S3_BUCKET: required with OBJECT_STORE=s3']);
  }
  if ((config.S3_ACCESS_KEY_ID === undefined) !== (config.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError([
      `${config.S3_ACCESS_KEY_ID === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY'}: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY together, or neither`,
    ]);
  }
  if (config.SECRETS_PROVIDER === 'vault' && (!config.VAULT_ADDR || !config.VAULT_TOKEN)) {
    throw new ConfigError([`${config.VAULT_ADDR ? 'VAULT_TOKEN' : 'VAULT_ADDR'}: required with SECRETS_PROVIDER=vault`]);
  }
  if ((config.SECRETS_AWS_ACCESS_KEY_ID === undefined) !== (config.SECRETS_AWS_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError([
      `${config.SECRETS_AWS_ACCESS_KEY_ID === undefined ? 'SECRETS_AWS_ACCESS_KEY_ID' : 'SECRETS_AWS_SECRET_ACCESS_KEY'}: set SECRETS_AWS_ACCESS_KEY_ID and SECRETS_AWS_SECRET_ACCESS_KEY together, or neither`,
    ]);
  }
  if (!(config.RETENTION_DEFAULT_CLASS in config.RETENTION_CLASSES)) {
    throw new ConfigError([`RETENTION_DEFAULT_CLASS: no class ${config.RETENTION_DEFAULT_CLASS} (known: ${Object.keys(config.RETENTION_CLASSES).join(', ')})`]);
  }
  for (const value of Object.values(config)) if (Array.isArray(value)) Object.freeze(value);
  return Object.freeze(config);
}

/** Outside production, votes are signed with a fixed key when none is set: API and workers of `make dev` and the tests agree without setup. */
const DEV_VOTE_SIGNING_KEY = 'kortix-dev-vote-signing-key: not for production';

/** The key that signs and checks approval votes. */
export function voteSigningKey(config: Pick<Env, 'VOTE_SIGNING_KEY'>): string {
  return config.VOTE_SIGNING_KEY?.reveal() ?? DEV_VOTE_SIGNING_KEY;
}

/**
 * The key that signs and checks codec login cookies: CODEC_LOGIN_KEY, else one derived (HKDF, its own label)
 * from the vote signing key, so production's required real key covers it and a cookie's MAC is never a vote's.
 */
export function codecLoginKey(config: Pick<Env, 'CODEC_LOGIN_KEY' | 'VOTE_SIGNING_KEY'>): Buffer {
  const own = config.CODEC_LOGIN_KEY?.reveal();
  if (own) return Buffer.from(own, 'utf8');
  return Buffer.from(hkdfSync('sha256', voteSigningKey(config), '', 'kortix codec login cookie', 32));
}

/** The file where `make dev` leaves its demo keys and the settings other shells need (DATABASE_URL, TEMPORAL_ADDRESS). */
export const DEV_SETTINGS_FILE = 'dev-keys.env';

/** A setting `make dev` wrote to `<KORTIX_DATA_DIR>/dev-keys.env` (`export NAME=value` lines), if any. */
export function readDevSetting(dataDir: string, name: string): { value: string; file: string } | undefined {
  const file = resolve(dataDir, DEV_SETTINGS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line.trim());
    if (m?.[1] === name && m[2]) return { value: m[2].replace(/^'(.*)'$/, '$1'), file };
  }
  return undefined;
}

/**
 * `DATABASE_URL` or a clear stop: every process that talks to Postgres calls this.
 * In dev, with the variable unset, the URL `make dev` wrote is used (saying so in one line), so the
 * README's commands work in any shell after `make dev`; never in test or prod.
 */
export function requireDatabaseUrl(config: Readonly<Env>): string {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const dev = config.KORTIX_ENV === 'dev' ? readDevSetting(config.KORTIX_DATA_DIR, 'DATABASE_URL') : undefined;
  if (dev && /^postgres(ql)?:\/\//.test(dev.value)) {
    process.stderr.write(`DATABASE_URL is not set: using the one \`make dev\` wrote to ${dev.file}\n`);
    return dev.value;
  }
  throw new ConfigError([
    'DATABASE_URL: required (for example postgres://postgres@127.0.0.1:5432/kortix); `make dev` starts an embedded Postgres and writes its URL to .data/dev-keys.env',
  ]);
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

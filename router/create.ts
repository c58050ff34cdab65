/**
 * The router as a process builds it: the policy file (watched in dev, or with
 * MODEL_POLICY_WATCH), the stores it is handed (ledger, budgets and cache; a
 * worker passes db/llm-ledger.ts `postgresRouterStores`), metrics, logs.
 * The stores come in from above so the router never imports db/.
 */
import type { Env } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import type { RouterMetrics } from './accounting.js';
import { ModelPolicyStore } from './policy-store.js';
import { ModelRouter } from './router.js';
import type { RouterStores } from './stores.js';

export interface RouterFromConfigOptions {
  readonly config: Readonly<Env>;
  /** Ledger, budgets and caches (Postgres in a worker). */
  readonly stores: RouterStores;
  readonly metrics?: RouterMetrics | undefined;
  readonly logger?: Logger | undefined;
  /** Overrides LLM_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

/** MODEL_POLICY_FILE, watched in dev or with MODEL_POLICY_WATCH (the API checks requested models against it too). */
export function modelPolicyFromConfig(
  config: Pick<Env, 'MODEL_POLICY_FILE' | 'MODEL_POLICY_WATCH' | 'KORTIX_ENV'> & Partial<Pick<Env, 'LOCAL_MODEL'>>,
  logger?: Logger,
): { policy: ModelPolicyStore; stop: (() => void) | undefined } {
  // Models' `modelEnv` read the configuration (LOCAL_MODEL), never process.env.
  const policy = new ModelPolicyStore(config.MODEL_POLICY_FILE, logger?.child({ component: 'model-policy' }), { LOCAL_MODEL: config.LOCAL_MODEL });
  const watching = config.MODEL_POLICY_WATCH ?? config.KORTIX_ENV === 'dev';
  return { policy, stop: watching ? policy.watch() : undefined };
}

/** A router on MODEL_POLICY_FILE; a bad file throws YamlFileError (file:line: path). `close()` stops the watcher. */
export function createRouterFromConfig(options: RouterFromConfigOptions): { router: ModelRouter; policy: ModelPolicyStore; close(): void } {
  const { config, logger } = options;
  const { policy, stop } = modelPolicyFromConfig(config, logger);
  const router = new ModelRouter({
    policy,
    env: config,
    timeoutMs: options.timeoutMs ?? config.LLM_TIMEOUT_MS,
    stores: options.stores,
    metrics: options.metrics,
    logger: logger?.child({ component: 'router' }),
  });
  return { router, policy, close: () => stop?.() };
}

/** The sandbox host a worker runs, built from the configuration (worker and test stack alike). */
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import type { Env } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { secretProviderFromConfig, type SecretsConfig } from '../secrets/from-config.js';
import { DockerSandboxHost, type DockerSandboxHostOptions } from './docker-host.js';
import { egressCaFromConfig, upstreamCaFromConfig } from './egress-ca-config.js';

type SandboxConfig = Pick<
  Env,
  | 'WORKER_HOST_ID'
  | 'TASK_QUEUE_PREFIX'
  | 'SANDBOX_IMAGE'
  | 'SANDBOX_MEMORY_MB'
  | 'SANDBOX_CPUS'
  | 'SANDBOX_PIDS_LIMIT'
  | 'SANDBOX_WORKSPACE_MB'
  | 'SANDBOX_TMP_MB'
  | 'SANDBOX_OUTPUT_LIMIT_BYTES'
  | 'SANDBOX_SECCOMP_PROFILE'
  | 'SANDBOX_POOL_MIN_IDLE'
  | 'SANDBOX_POOL_MAX_TOTAL'
  | 'SANDBOX_POOL_MAX_AGE'
  | 'SANDBOX_POOL_WHEN_EMPTY'
  | 'SANDBOX_POOL_WAIT_TIMEOUT'
  | 'SANDBOX_POOL_HEALTH_INTERVAL'
  | 'SANDBOX_ENGINE_HEALTHCHECK_INTERVAL'
  | 'SANDBOX_BROWSER'
  | 'SANDBOX_BROWSER_HEAP_MB'
  | 'SANDBOX_BROWSER_DOWNLOAD_MAX_MB'
  | 'SANDBOX_EGRESS_PROXY_PORT'
  | 'SANDBOX_EGRESS_FIREWALL'
  | 'SANDBOX_EGRESS_MAX_CONNECTIONS'
  | 'SANDBOX_EGRESS_IDLE_TIMEOUT'
  | 'KORTIX_ENV'
  | 'SANDBOX_EGRESS_CA_DIR'
  | 'SANDBOX_EGRESS_UPSTREAM_CA_FILE'
> &
  SecretsConfig;

/** Reads the seccomp profile (a missing or non-JSON file stops the process, naming the variable). */
function seccompProfile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
    JSON.parse(text);
  } catch (err) {
    throw new Error(`SANDBOX_SECCOMP_PROFILE: cannot use ${path}: ${(err as Error).message}`);
  }
  return text;
}

function secretValueOf(config: SecretsConfig): (tenantId: string, name: string) => Promise<string> {
  const provider = secretProviderFromConfig(config, { cached: true });
  return async (tenantId, name) => (await provider.get(tenantId, name)).value;
}

export function sandboxHostFromConfig(
  config: SandboxConfig,
  deps: { docker: Docker; metrics?: Metrics | undefined; logger?: Logger | undefined; isOrphan?: DockerSandboxHostOptions['isOrphan'] },
): DockerSandboxHost {
  return new DockerSandboxHost({
    docker: deps.docker,
    hostId: config.WORKER_HOST_ID,
    pool: config.TASK_QUEUE_PREFIX,
    image: config.SANDBOX_IMAGE,
    limits: {
      memoryMb: config.SANDBOX_MEMORY_MB,
      cpus: config.SANDBOX_CPUS,
      pidsLimit: config.SANDBOX_PIDS_LIMIT,
      workspaceMb: config.SANDBOX_WORKSPACE_MB,
      tmpMb: config.SANDBOX_TMP_MB,
    },
    seccompProfile: seccompProfile(config.SANDBOX_SECCOMP_PROFILE),
    healthCheckIntervalMs: config.SANDBOX_ENGINE_HEALTHCHECK_INTERVAL,
    outputLimitBytes: config.SANDBOX_OUTPUT_LIMIT_BYTES,
    warmPool: {
      minIdle: config.SANDBOX_POOL_MIN_IDLE,
      maxTotal: config.SANDBOX_POOL_MAX_TOTAL,
      maxAgeMs: config.SANDBOX_POOL_MAX_AGE,
      whenEmpty: config.SANDBOX_POOL_WHEN_EMPTY,
      waitTimeoutMs: config.SANDBOX_POOL_WAIT_TIMEOUT,
      healthIntervalMs: config.SANDBOX_POOL_HEALTH_INTERVAL,
    },
    egress: {
      port: config.SANDBOX_EGRESS_PROXY_PORT,
      // Production never runs sandboxes that could reach this host's services: no firewall, no start.
      ...(config.KORTIX_ENV === 'prod'
        ? { firewall: 'on' as const, firewallRequiredBy: 'KORTIX_ENV=prod (SANDBOX_EGRESS_FIREWALL)' }
        : { firewall: config.SANDBOX_EGRESS_FIREWALL }),
      maxConnectionsPerSandbox: config.SANDBOX_EGRESS_MAX_CONNECTIONS,
      idleTimeoutMs: config.SANDBOX_EGRESS_IDLE_TIMEOUT,
      // Brokered secrets: values from the provider (cached), HTTPS of bound hosts terminated with the deployment's CA.
      secretValue: secretValueOf(config),
      ca: egressCaFromConfig(config),
      upstreamCa: upstreamCaFromConfig(config),
    },
    browser:
      config.SANDBOX_BROWSER === 'off' ? undefined : {
            prewarm: config.SANDBOX_BROWSER === 'prewarm',
            heapMb: config.SANDBOX_BROWSER_HEAP_MB,
            downloadMaxMb: config.SANDBOX_BROWSER_DOWNLOAD_MAX_MB,
          },
    isOrphan: deps.isOrphan,
    metrics: deps.metrics,
    logger: deps.logger,
  });
}

/**
 * The Kortix part of the cluster: worker hosts (temporal/worker-main.ts, each
 * with its own WORKER_HOST_ID, so its own warm pool and sandbox queue) and API
 * instances (api/main.ts), every one a process of its own, ready when its
 * /readyz answers 200.
 */
import { resolve } from 'node:path';
import { REPO_ROOT } from '../../config/index.js';
import type { ClusterLayout } from './layout.js';
import { ClusterProcess } from './process.js';

export interface KortixSettings {
  /** Shared by every worker host and API instance: Temporal, Postgres, model, bundle, prefix. */
  readonly env: Record<string, string>;
  readonly logDir: string;
  /** WORKER_HOST_ID of host i is `${hostIdPrefix}-${i + 1}`. */
  readonly hostIdPrefix: string;
}

const readyz = (url: string) => async () => (await fetch(`${url}/readyz`)).status === 200;

// node with tsx's loader, not the tsx CLI: the CLI runs the script in a child process,
// and SIGKILL of the CLI would leave that child (the real worker) alive.
const NODE_ARGS = ['--import', 'tsx'];

export function workerHostId(settings: KortixSettings, index: number): string {
  return `${settings.hostIdPrefix}-${index + 1}`;
}

export function workerHostProcess(settings: KortixSettings, layout: ClusterLayout, index: number): ClusterProcess {
  const hostId = workerHostId(settings, index);
  const port = layout.workerHealth[index] as number;
  const url = `http://${layout.host}:${port}`;
  return new ClusterProcess({
    name: `worker-${hostId}`,
    command: process.execPath,
    args: [...NODE_ARGS, 'temporal/worker-main.ts'],
    env: { ...settings.env, WORKER_HOST_ID: hostId, WORKER_HEALTH_HOST: layout.host, WORKER_HEALTH_PORT: String(port), WORKER_SDK_METRICS_PORT: '0' },
    cwd: REPO_ROOT,
    logFile: resolve(settings.logDir, `worker-${hostId}.log`),
    ready: readyz(url),
    listens: [`health, readiness, metrics ${url}/readyz ${url}/metrics`, `sandbox queue of host ${hostId}`],
    // Longer than the worker's own shutdown grace (temporal/worker.ts: in-flight activities get 30 s).
    stopGraceMs: 45_000,
  });
}

export function apiProcess(settings: KortixSettings, layout: ClusterLayout, index: number): ClusterProcess {
  const port = layout.api[index] as number;
  const url = `http://${layout.host}:${port}`;
  return new ClusterProcess({
    name: `api-${index + 1}`,
    command: process.execPath,
    args: [...NODE_ARGS, 'api/main.ts'],
    env: { ...settings.env, API_HOST: layout.host, API_PORT: String(port) },
    cwd: REPO_ROOT,
    logFile: resolve(settings.logDir, `api-${index + 1}.log`),
    ready: readyz(url),
    listens: [`HTTP API ${url}`],
  });
}

/**
 * A real Prometheus (Debian's, provisioned by scripts/provision/prometheus.sh)
 * on loopback, running observability/prometheus/prometheus.yml with its rules
 * and the targets pointed at this test's API (the stack's app over HTTP) and a
 * worker process (its /metrics and the Temporal SDK's endpoint). During a
 * session, the metrics arrive and Prometheus's HTTP API answers with them:
 * requests, model latency, tasks, active sessions as Postgres counts them,
 * the task-queue backlog as Temporal reports it, the SDK series the
 * dashboards use; and the alerting rules evaluate on them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../../config/index.js';
import { closeServer, listen } from '../../observability/health-server.js';
import { SDK_METRIC_NAMES } from '../../observability/metrics.js';
import { provision } from '../../scripts/lib/provision.js';
import { freePort } from '../../temporal/dev-server.js';
import { taskQueues } from '../../domain/temporal-names.js';
import { startSession, waitForClosed, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { WorkerProcess } from '../support/worker-process.js';

const services = inject('services');
const dir = mkdtempSync(join(services.tmpDir, 'prometheus-'));
const cleanups: (() => Promise<unknown>)[] = [];

let stack: Stack;
let worker: WorkerProcess;
let prometheusUrl: string;
const ports = { api: 0, worker: 0, sdk: 0 };

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function promApi<T>(path: string): Promise<T> {
  const res = await fetch(`${prometheusUrl}${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
  return body.data;
}

async function query(promql: string): Promise<Sample[]> {
  return (await promApi<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result;
}

/** The single value of `promql` once `accept` holds for it (Prometheus scrapes every second). */
async function valueOnceIt(promql: string, accept: (v: number) => boolean, what: string, timeoutMs = 30_000): Promise<number> {
  return waitFor(
    async () => {
      const result = await query(promql);
      const v = result.length === 1 ? Number(result[0]?.value[1]) : NaN;
      return accept(v) ? v : undefined;
    },
    timeoutMs,
    `${what} (${promql})`,
  );
}

/** The repository's Prometheus config with loopback targets, 1 s intervals and no Alertmanager. */
function testConfig(promPort: number): string {
  const config = parse(readFileSync(resolve(REPO_ROOT, 'observability/prometheus/prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    alerting?: unknown;
    scrape_configs: { job_name: string; [k: string]: unknown }[];
  };
  const targets: Record<string, number> = { 'kortix-api': ports.api, 'kortix-worker': ports.worker, 'kortix-worker-sdk': ports.sdk, prometheus: promPort };
  config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
  config.rule_files = config.rule_files.map((f) => resolve(REPO_ROOT, 'observability/prometheus', f));
  delete config.alerting;
  config.scrape_configs = config.scrape_configs.map(({ job_name }) => {
    const port = targets[job_name];
    if (!port) throw new Error(`no test target for scrape job ${job_name}`);
    return { job_name, static_configs: [{ targets: [`127.0.0.1:${port}`] }] };
  });
  expect(Object.keys(targets).sort()).toEqual(config.scrape_configs.map((j) => j.job_name).sort());
  return stringify(config);
}

async function startPrometheus(): Promise<void> {
  const bin = (await provision('prometheus')).PROMETHEUS_BIN as string;
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'prometheus.yml'), testConfig(port));
  const log = createWriteStream(join(dir, 'prometheus.log'));
  const child: ChildProcess = spawn(
    bin,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`)).ok, 30_000, `Prometheus ready (log: ${join(dir, 'prometheus.log')})`);
}

beforeAll(async () => {
  stack = await startStack(services, { workers: false });
  cleanups.push(() => stack.close());
  // The stack's API app, served over HTTP as api/main.ts serves it.
  const api = await listen(stack.app, '127.0.0.1', 0);
  cleanups.push(() => closeServer(api.server, 1_000));
  ports.api = api.port;
  ports.worker = await freePort();
  ports.sdk = await freePort();
  worker = new WorkerProcess(
    { ...stack.env, WORKER_HEALTH_PORT: String(ports.worker), WORKER_SDK_METRICS_PORT: String(ports.sdk) },
    join(dir, 'worker.log'),
  );
  cleanups.push(() => worker.kill());
  await worker.start();
  await startPrometheus();
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

describe('a real Prometheus scraping the API and a worker during sessions', () => {
  it('scrapes every target and loads the alerting rules', async () => {
    const up = await waitFor(
      async () => {
        const r = await query('up');
        return r.length === 4 && r.every((s) => s.value[1] === '1') ? r : undefined;
      },
      30_000,
      'every target up',
    );
    expect(up.map((s) => s.metric.job).sort()).toEqual(['kortix-api', 'kortix-worker', 'kortix-worker-sdk', 'prometheus']);
    const rules = await promApi<{ groups: { rules: { name: string; type: string; health: string }[] }[] }>('/api/v1/rules');
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.type === 'alerting');
    expect(alerts.map((r) => r.name).sort()).toEqual(['KortixTargetDown', 'LlmLatencyP95High', 'SessionStartsStuck', 'TaskFailureRateHigh', 'TaskQueueBacklogHigh', 'TenantBudgetExhausted']);
  });

  it("receives a session's metrics: requests, model latency, tasks, active sessions, SDK series", async () => {
    const done = await startSession(stack, { message: 'list the workspace', metadata: { scenario: 'safe-shell' } });
    const finished = await waitForStatus(stack, done.id);
    expect(finished.status).toBe('completed');
    // A second session waits on an approval: it is active.
    const waiting = await startSession(stack, { message: 'delete the scratch file' });
    await waitForGate(stack, waiting.id);

    const posted = await valueOnceIt(
      'sum(http_requests_total{job="kortix-api",method="POST",route="/v1/sessions",status="201"})',
      (v) => v >= 2,
      'two POST /v1/sessions counted',
    );
    expect(posted).toBe(2);
    const llmCalls = await valueOnceIt('sum(llm_latency_seconds_count{job="kortix-worker",service="worker"})', (v) => v >= 2, 'model calls observed');
    expect(llmCalls).toBeGreaterThanOrEqual(2);
    expect(await valueOnceIt('sum(tasks_total{job="kortix-worker",kind="llm"})', (v) => v >= 2, 'llm tasks')).toBeGreaterThanOrEqual(2);
    expect(await valueOnceIt('sum(tasks_total{job="kortix-worker",kind="sandbox"})', (v) => v >= 1, 'sandbox tasks')).toBeGreaterThanOrEqual(1);

    // Postgres is shared with the other test files: Prometheus must say what the sessions table says.
    const counted = async (status: string) =>
      Number(
        (
          await stack.db
            .selectFrom('sessions')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('ended_at', 'is', null)
            .where('status', '=', status as 'running')
            .executeTakeFirstOrThrow()
        ).n,
      );
    // The gate is visible a moment before the status change that the outbox writes in its next batch.
    const expectedWaiting = await waitFor(
      async () => {
        const n = await counted('waiting_approval');
        return n >= 1 ? n : undefined;
      },
      30_000,
      'the waiting session in the sessions table',
    );
    expect(expectedWaiting).toBeGreaterThanOrEqual(1);
    expect(
      await valueOnceIt('max(agent_active_count{job="kortix-api",status="waiting_approval"})', (v) => v === expectedWaiting, 'the waiting session counted'),
    ).toBe(expectedWaiting);
    expect(await query('agent_active_count{status="running"}')).toHaveLength(1);
    // The session starts, read from Postgres at scrape (a number, not the NaN of a failed read; other files'
    // held starts may be in the same database, so not necessarily 0).
    expect(await valueOnceIt('max(session_starts_pending{job="kortix-api"})', (v) => Number.isInteger(v) && v >= 0, 'the pending starts read')).toBeGreaterThanOrEqual(0);
    expect(await valueOnceIt('max(session_start_oldest_pending_seconds{job="kortix-api"})', (v) => v >= 0, 'the oldest start read')).toBeGreaterThanOrEqual(0);

    // The Temporal SDK's own series that the dashboards use, from the worker's SDK endpoint.
    const names = await waitFor(
      async () => {
        const all = await promApi<string[]>('/api/v1/label/__name__/values');
        return Object.values(SDK_METRIC_NAMES).every((n) => all.includes(n)) ? all : undefined;
      },
      30_000,
      'the SDK series',
    );
    expect(names).toEqual(expect.arrayContaining(Object.values(SDK_METRIC_NAMES)));
    const sdkJobs = await query(`count by (job) (${SDK_METRIC_NAMES.workerTaskSlotsAvailable})`);
    expect(sdkJobs.map((s) => s.metric.job)).toEqual(['kortix-worker-sdk']);

    await stack.api('POST', `/v1/sessions/${waiting.id}/cancel`, 'alice', {});
    await waitForStatus(stack, waiting.id);
    // Closed, not only marked: the next test counts the workflow tasks left in the queue.
    expect(await waitForClosed(stack, done.id)).toBe('COMPLETED');
    expect(await waitForClosed(stack, waiting.id)).not.toBe('RUNNING');
  });

  it('sees the task-queue backlog Temporal reports, and a down worker, while no worker polls', async () => {
    const queue = taskQueues(stack.config.TASK_QUEUE_PREFIX).sessions;
    const backlog = `max(queue_length{job="kortix-api",task_queue="${queue}",type="workflow"})`;
    expect(await valueOnceIt(backlog, (v) => v === 0, 'an empty sessions queue')).toBe(0);

    expect(await worker.stop()).toBe(0);
    const queued = await startSession(stack, { message: 'hello there', metadata: { scenario: 'default' } });
    expect(await valueOnceIt(backlog, (v) => v >= 1, 'the new session waiting in the queue')).toBe(1);

    // The rules evaluate on these series: the worker's targets are down, the alert is pending (for: 5m).
    const pending = await waitFor(
      async () => {
        const { alerts } = await promApi<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts');
        const down = alerts.filter((a) => a.labels.alertname === 'KortixTargetDown');
        return down.length === 2 ? down : undefined;
      },
      30_000,
      'KortixTargetDown pending for both worker targets',
    );
    expect(pending.map((a) => [a.labels.job, a.state]).sort()).toEqual([
      ['kortix-worker', 'pending'],
      ['kortix-worker-sdk', 'pending'],
    ]);

    // A worker again: the backlog drains.
    worker = new WorkerProcess({ ...stack.env, WORKER_HEALTH_PORT: String(ports.worker), WORKER_SDK_METRICS_PORT: String(ports.sdk) }, join(dir, 'worker-2.log'));
    await worker.start();
    expect((await waitForStatus(stack, queued.id)).status).toBe('completed');
    expect(await valueOnceIt(backlog, (v) => v === 0, 'the queue drained')).toBe(0);
  });
});

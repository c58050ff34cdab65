/**
 * Throughput and per-step cost (issue 16), on real Temporal, Postgres and
 * Docker with the mock LLM (no model delay) and a trivial shell tool:
 * - the FLOOR: bench/floor/workflow.ts, three no-op activities per step on a
 *   worker with the session worker's options, with 1 and 20 workflows at once;
 * - OURS: the per-step orchestration overhead of `multi-step` sessions with 1
 *   and 20 at once (bench/session-latency.ts's measure), and agent tool steps
 *   per second with C sessions at once, checked from the database (every
 *   session completed, one ok tool.result per tool call id, and each step's
 *   stdout the line count it must be: a tool run twice would show);
 * - POST /v1/sessions latency while that load runs (a `default` session: no
 *   tool, no container), and the process's RSS per active session.
 * A variant is a set of environment overrides (worker options, pool size) on
 * its own stack; all variants run on the same services in one run.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { TemporalDevServer } from '../temporal/dev-server.js';
import { sharedWorkerOptions } from '../temporal/worker.js';
import { loadWorkflowBundle, type WorkflowBundle } from '../temporal/worker-options.js';
import type { ServiceValues } from '../test/support/services.js';
import { startSession } from '../test/support/sessions.js';
import { startStack, type Stack } from '../test/support/stack.js';
import { cpuByGroup, cpuSince, serverHistograms, topHistograms } from './cpu-profile.js';
import { stepTimings, timedMockLlm, waitForEnd } from './session-latency.js';
import { percentiles, type Summary } from './stats.js';

const FLOOR_WORKFLOWS = new URL('./floor/workflow.ts', import.meta.url).pathname;

export interface ThroughputVariant {
  readonly label: string;
  /** Environment overrides of the stack (config/index.ts names). */
  readonly env?: Record<string, string>;
  /** More `temporal server start-dev` flags for the variant's own dev server. */
  readonly server?: readonly string[];
  /** Its SQLite pragmas (default: temporal/dev-server.ts's DEV_SQLITE_PRAGMAS). */
  readonly sqlitePragmas?: readonly string[];
}

/** The variants `--variants=a,b` picks from; the first is the baseline of the ratios in the README. */
export const THROUGHPUT_VARIANTS: Record<string, ThroughputVariant> = {
  default: { label: 'default' },
  eager: { label: 'eager', server: ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'] },
  /** The CLI's own SQLite settings (rollback journal), the dev server's default before issue 16. */
  rollback: { label: 'rollback', sqlitePragmas: [] },
  autoscaling: { label: 'autoscaling', env: { WORKER_POLLERS: 'autoscaling' } },
  cache50: { label: 'cache50', env: { WORKER_MAX_CACHED_WORKFLOWS: '50' } },
  pool64: { label: 'pool64', env: { SANDBOX_POOL_MAX_TOTAL: '64' } },
};

/** Tenant limits out of the way: the bench measures the platform, not the per-tenant caps (20 running sessions by default). */
const UNCAPPED = {
  TENANT_MAX_RUNNING_SESSIONS: '100000',
  TENANT_MAX_SANDBOXES: '100000',
  TENANT_REQUESTS_PER_SECOND: '100000',
  TENANT_REQUEST_BURST: '100000',
};

export interface VariantResult {
  label: string;
  env: Record<string, string>;
  server: readonly string[];
  poolMaxTotal: number;
  floorStepMs: { concurrency1: Summary; concurrency20: Summary };
  stepOverheadMs: { concurrency1: Summary; concurrency20: Summary };
  overheadOverFloorP50: { concurrency1: number; concurrency20: number };
  load: {
    sessions: number;
    stepsPerSession: number;
    seconds: number;
    toolStepsPerSecond: number;
    failedSessions: number;
    failedToolRuns: number;
    duplicatedToolRuns: number;
    missingToolRuns: number;
    stepOverheadMs: Summary;
    postSessionMs: Summary;
    postFailures: number;
    rssBaselineMb: number;
    rssPeakMb: number;
    rssPerActiveSessionMb: number;
  };
  /** Over the load: CPU seconds by process group, and the dev server's histograms with the most time. */
  profile: { cpuSeconds: Record<string, number>; serverHistograms: ReturnType<typeof topHistograms> };
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const now = () => performance.timeOrigin + performance.now();

/** `count` floor workflows of `steps` steps at once; the time from each step's first activity to the next step's. */
async function floor(stack: Stack, bundle: WorkflowBundle, count: number, steps: number): Promise<Summary> {
  const marks = new Map<string, number[]>();
  const activities = {
    async noop(input: { id: string; step: number; k: number }): Promise<void> {
      if (input.k !== 0) return;
      const list = marks.get(input.id) ?? [];
      list[input.step] = now();
      marks.set(input.id, list);
    },
  };
  const connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  const queue = `${stack.config.TASK_QUEUE_PREFIX}-floor-${randomUUID().slice(0, 6)}`;
  const options = sharedWorkerOptions({ config: stack.config, connection, db: stack.db, shutdownGraceTime: '2s' });
  const workers = [
    await Worker.create({ ...options, taskQueue: queue, workflowBundle: bundle, activities }),
    await Worker.create({ ...options, taskQueue: `${queue}-host`, activities }),
  ];
  const running = Promise.all(workers.map((w) => w.run()));
  try {
    const ids = Array.from({ length: count }, (_, i) => `floor-${queue}-${i}`);
    const handles = await Promise.all(
      ids.map((id) => stack.temporal.workflow.start('floorWorkflow', { taskQueue: queue, workflowId: id, args: [{ id, steps, hostQueue: `${queue}-host` }] })),
    );
    await Promise.all(handles.map((h) => h.result()));
    const perStep: number[] = [];
    for (const id of ids) {
      const m = marks.get(id) ?? [];
      for (let s = 1; s < m.length; s++) perStep.push((m[s] ?? 0) - (m[s - 1] ?? 0));
    }
    return percentiles(perStep);
  } finally {
    for (const w of workers) w.shutdown();
    await running;
    await connection.close();
  }
}

/** `count` multi-step sessions posted at once; resolves when all have ended. */
async function sessions(stack: Stack, count: number, steps: number, tag: string) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const bench = `${tag}-${i}`;
      const s = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step', repeat: String(steps), bench } });
      await waitForEnd(stack, s.id, 900_000);
      return { id: s.id, bench };
    }),
  );
}

/** What the database says of the sessions: ended well, one ok result per tool call, each step's stdout its line count. */
async function check(stack: Stack, ids: readonly string[], steps: number) {
  let failedSessions = 0;
  let failedToolRuns = 0;
  let duplicatedToolRuns = 0;
  let missingToolRuns = 0;
  for (const id of ids) {
    const row = await stack.db.selectFrom('sessions').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    if (row.status !== 'completed') failedSessions++;
    const results = await stack.db.selectFrom('session_events').select('data').where('session_id', '=', id).where('type', '=', 'tool.result').execute();
    const perCall = new Map<string, number>();
    for (const r of results) {
      const d = r.data as { toolCallId?: string; ok?: boolean };
      perCall.set(String(d.toolCallId), (perCall.get(String(d.toolCallId)) ?? 0) + 1);
      if (d.ok !== true) failedToolRuns++;
    }
    for (const n of perCall.values()) if (n > 1) duplicatedToolRuns += n - 1;
    missingToolRuns += Math.max(0, steps - perCall.size);
    // The tool appends a line and prints the count: a second run of any step shifts every later count.
    const outputs = await stack.db.selectFrom('messages').select('content').where('session_id', '=', id).where('role', '=', 'tool').orderBy('seq').execute();
    outputs.forEach((o, k) => {
      const stdout = (JSON.parse(o.content ?? '{}') as { stdout?: string }).stdout?.trim();
      if (stdout !== String(k + 1)) duplicatedToolRuns++;
    });
  }
  return { failedSessions, failedToolRuns, duplicatedToolRuns, missingToolRuns };
}

export async function benchThroughput(
  services: ServiceValues,
  variant: ThroughputVariant,
  options: { sessions: number; steps: number; floorBundle: WorkflowBundle },
): Promise<VariantResult> {
  // A dev server of the variant's own: no variant runs on a history database another one filled.
  const server = await TemporalDevServer.start({
    cli: services.temporalCli,
    dbFile: join(services.tmpDir, `temporal-${variant.label}.db`),
    uiPort: null,
    logFile: join(services.tmpDir, `temporal-${variant.label}.log`),
    extraArgs: variant.server ?? [],
    ...(variant.sqlitePragmas ? { sqlitePragmas: variant.sqlitePragmas } : {}),
  });
  const model = await timedMockLlm();
  const stack = await startStack(services, { env: { ...UNCAPPED, MOCK_LLM_URL: model.url, TEMPORAL_ADDRESS: server.address, ...variant.env } });
  try {
    await sessions(stack, 1, 1, `${variant.label}-warm`);
    await floor(stack, options.floorBundle, 1, 2);

    const floor1 = await floor(stack, options.floorBundle, 1, 10);
    const floor20 = await floor(stack, options.floorBundle, 20, 5);
    const one = await sessions(stack, 1, 10, `${variant.label}-c1`);
    const twenty = await sessions(stack, 20, 5, `${variant.label}-c20`);
    const over1 = percentiles((await stepTimings(stack, model.calls, one)).overhead);
    const over20 = percentiles((await stepTimings(stack, model.calls, twenty)).overhead);

    // The load, with RSS sampled and sequential POSTs of tool-less sessions beside it.
    const metricsUrl = `http://${server.ip}:${server.metricsPort}/metrics`;
    const histogramsBefore = await serverHistograms(metricsUrl);
    const cpuBefore = cpuByGroup(`temporal-${variant.label}.db`);
    const rssBaseline = process.memoryUsage().rss;
    let rssPeak = rssBaseline;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 250);
    let loading = true;
    const posts: number[] = [];
    let postFailures = 0;
    const probes = (async () => {
      while (loading) {
        const t = now();
        // A refused start (503 when the dev server is overwhelmed) is counted, not fatal.
        const ok = await startSession(stack, { message: 'probe', metadata: { scenario: 'default', bench: 'probe' } }).then(() => true, () => false);
        if (ok) posts.push(now() - t);
        else postFailures++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const started = now();
    const load = await sessions(stack, options.sessions, options.steps, `${variant.label}-load`);
    const seconds = (now() - started) / 1000;
    loading = false;
    await probes;
    clearInterval(sampler);
    const profile = {
      cpuSeconds: cpuSince(cpuBefore, cpuByGroup(`temporal-${variant.label}.db`)),
      serverHistograms: topHistograms(histogramsBefore, await serverHistograms(metricsUrl)),
    };
    const checked = await check(stack, load.map((l) => l.id), options.steps);
    const steps = options.sessions * options.steps - checked.missingToolRuns;
    return {
      label: variant.label,
      env: variant.env ?? {},
      server: [...(variant.server ?? []), ...(variant.sqlitePragmas ?? []).flatMap((p) => ['--sqlite-pragma', p])],
      poolMaxTotal: stack.config.SANDBOX_POOL_MAX_TOTAL,
      floorStepMs: { concurrency1: floor1, concurrency20: floor20 },
      stepOverheadMs: { concurrency1: over1, concurrency20: over20 },
      overheadOverFloorP50: {
        concurrency1: Math.round((over1.p50 / floor1.p50) * 100) / 100,
        concurrency20: Math.round((over20.p50 / floor20.p50) * 100) / 100,
      },
      load: {
        sessions: options.sessions,
        stepsPerSession: options.steps,
        seconds: Math.round(seconds * 10) / 10,
        toolStepsPerSecond: Math.round((steps / seconds) * 100) / 100,
        ...checked,
        stepOverheadMs: percentiles((await stepTimings(stack, model.calls, load)).overhead),
        postSessionMs: percentiles(posts),
        postFailures,
        rssBaselineMb: mb(rssBaseline),
        rssPeakMb: mb(rssPeak),
        rssPerActiveSessionMb: Math.round((mb(rssPeak - rssBaseline) / options.sessions) * 100) / 100,
      },
      profile,
    };
  } finally {
    await stack.close();
    model.close();
    await server.stop();
  }
}

/** The floor's bundle, built once per run with the same interceptors as the sessions' bundle. */
export function floorBundle(): Promise<WorkflowBundle> {
  return loadWorkflowBundle({ workflowsPath: FLOOR_WORKFLOWS });
}

/** The table: one row per measure, one column per variant (ours / floor where it applies). */
export function printThroughput(results: readonly VariantResult[]): void {
  const col = (s: string) => s.padEnd(26);
  console.log(`\nthroughput (ms unless said)           ${results.map((r) => col(r.label)).join('')}`);
  const row = (label: string, f: (r: VariantResult) => string) => console.log(`${label.padEnd(38)}${results.map((r) => col(f(r))).join('')}`);
  row('floor step p50/p95, 1 wf', (r) => `${r.floorStepMs.concurrency1.p50} / ${r.floorStepMs.concurrency1.p95}`);
  row('floor step p50/p95, 20 wf', (r) => `${r.floorStepMs.concurrency20.p50} / ${r.floorStepMs.concurrency20.p95}`);
  row('our step overhead p50/p95, 1 session', (r) => `${r.stepOverheadMs.concurrency1.p50} / ${r.stepOverheadMs.concurrency1.p95} (×${r.overheadOverFloorP50.concurrency1})`);
  row('our step overhead p50/p95, 20', (r) => `${r.stepOverheadMs.concurrency20.p50} / ${r.stepOverheadMs.concurrency20.p95} (×${r.overheadOverFloorP50.concurrency20})`);
  row('load: sessions × steps, pool max', (r) => `${r.load.sessions} × ${r.load.stepsPerSession}, ${r.poolMaxTotal}`);
  row('load: tool steps/s', (r) => `${r.load.toolStepsPerSecond} (${r.load.seconds} s)`);
  row('load: failed/duplicated/missing', (r) => `${r.load.failedSessions + r.load.failedToolRuns}/${r.load.duplicatedToolRuns}/${r.load.missingToolRuns}`);
  row('load: step overhead p50/p95', (r) => `${r.load.stepOverheadMs.p50} / ${r.load.stepOverheadMs.p95}`);
  row('load: POST /v1/sessions p50/p95', (r) => `${r.load.postSessionMs.p50} / ${r.load.postSessionMs.p95} (n ${r.load.postSessionMs.n}, ${r.load.postFailures} refused)`);
  row('load: RSS MB base/peak, per session', (r) => `${r.load.rssBaselineMb}/${r.load.rssPeakMb}, ${r.load.rssPerActiveSessionMb}`);
  row('load: CPU s bench/temporal/pg/docker', (r) => ['bench', 'temporal', 'postgres', 'docker'].map((k) => r.profile.cpuSeconds[k]).join('/'));
}

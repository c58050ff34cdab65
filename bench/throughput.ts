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
 *   tool, no container) and its stages from the answer's Server-Timing
 *   (api/server-timing.ts), GET /v1/sessions/:id of running load sessions (a
 *   viewer's look, five a second), the worker's RSS per active session, and how evenly
 *   the sessions progress (model answers per session at half time, the longest
 *   wait of each session between two answers).
 * Options: `modelDelayMs` (each model answer waits that long, as a real model
 * would), `workerProcess` (the workers in a process of their own,
 * temporal/worker-main.ts, whose RSS and CPU are then the worker's alone; else
 * in the bench process with the API and the mock LLM), `compiledWorker` (that
 * process runs the JavaScript the platform image runs, bench/compiled-worker.ts,
 * instead of the TypeScript under tsx).
 * A variant is a set of environment overrides (worker options, pool size) on
 * its own stack; all variants run on the same services in one run. Each runs
 * on a fresh Temporal of its own: the dev server, or with `--servers=cluster`
 * the cluster's Temporal on Postgres (bench/throughput-server.ts).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { sharedWorkerOptions } from '../temporal/worker.js';
import { loadWorkflowBundle, type WorkflowBundle } from '../temporal/worker-options.js';
import type { ServiceValues } from '../test/support/services.js';
import { parseServerTiming } from '../api/server-timing.js';
import { postSession } from '../test/support/sessions.js';
import { sampleWorkerMemory, withThreadHeapPreload, workflowThreadTids, type WorkerMemory } from './worker-memory.js';
import { startStack, waitFor, type Stack } from '../test/support/stack.js';
import { WorkerProcess } from '../test/support/worker-process.js';
import { cpuByGroup, cpuSince, rssOf, serverProfileSince, serverSnapshot, temporalRssPeakMb } from './cpu-profile.js';
import { stepTimings, timedMockLlm, type ModelCall } from './session-latency.js';
import { sandboxHolds, type SandboxHolds } from './sandbox-holds.js';
import { cpuOver, machineCpu, sustained, type CpuOver, type CpuSample, type GroupSample, type Sustained } from './sustained.js';
import { floorPhases, longestGap, sessionPhases, type PhaseSummaries } from './step-phases.js';
import { percentiles, type Summary } from './stats.js';
import { devServerEnv } from '../temporal/dev-server.js';
import { startBenchTemporal, type ThroughputRun, type ThroughputServer } from './throughput-server.js';
import type { ThroughputVariant } from './throughput-variants.js';

const FLOOR_WORKFLOWS = new URL('./floor/workflow.ts', import.meta.url).pathname;

/** Tenant limits out of the way: the bench measures the platform, not the per-tenant caps (20 running sessions by default). */
const UNCAPPED = {
  TENANT_MAX_RUNNING_SESSIONS: '100000',
  TENANT_MAX_SANDBOXES: '100000',
  TENANT_REQUESTS_PER_SECOND: '100000',
  TENANT_REQUEST_BURST: '100000',
};

export interface VariantResult {
  label: string;
  /** Which Temporal: the dev server (SQLite) or the cluster's (Postgres, four service processes). */
  temporal: ThroughputServer;
  env: Record<string, string>;
  /** The dev server's extra flags. */
  server: readonly string[];
  /** What the dev server's process got on top of the bench's environment: its GOGC, the default's or the variant's (`gogcN`). */
  serverEnv?: Readonly<Record<string, string>>;
  poolMaxTotal: number;
  maxCachedWorkflows: number | null;
  modelDelayMs: number;
  /**
   * Where the workers ran: `process` (their own, RSS and CPU below are theirs: TypeScript under tsx), `compiled` (their
   * own, the image's compiled JavaScript under plain node) or `in-process` (the bench's, with the API and the mock LLM).
   */
  worker: 'process' | 'compiled' | 'in-process';
  /** Null with `loadOnly`. */
  floorStepMs: { concurrency1: Summary; concurrency20: Summary } | null;
  stepOverheadMs: { concurrency1: Summary; concurrency20: Summary } | null;
  overheadOverFloorP50: { concurrency1: number; concurrency20: number } | null;
  /** Where the step overhead goes, phase by phase from the histories (bench/step-phases.ts), and the floor's phases. */
  stepPhasesMs: { concurrency1: PhaseSummaries; concurrency20: PhaseSummaries; floor1: PhaseSummaries; floor20: PhaseSummaries } | null;
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
    /** POST of each load session → its first model request. */
    startToFirstModelCallMs: Summary;
    /** Starvation shows here: model answers per session at half the load's time (min / p50 / max), each session's longest wait between two answers. */
    progress: { answersAtHalfTime: { min: number; p50: number; max: number }; longestGapMs: Summary };
    /** The longest wait between a session's model answer and its next model call, and its history meanwhile. */
    longestGap?: Awaited<ReturnType<typeof longestGap>>;
    /** How the sessions used the sandbox pool: claim waits, holds, hand-offs, utilisation (bench/sandbox-holds.ts). */
    sandboxHolds?: SandboxHolds;
    postSessionMs: Summary;
    /** The probes' Server-Timing stages (auth, lookups, admit, total; before the start left the request, start too), by name. */
    postStagesMs: Record<string, Summary>;
    postFailures: number;
    /** A viewer's look at a running session of the load (GET /v1/sessions/:id, five a second), and the looks refused. */
    getSessionMs: Summary;
    getFailures: number;
    rssBaselineMb: number;
    rssPeakMb: number;
    rssPerActiveSessionMb: number;
    /** With a worker process: its memory at the sample of largest RSS, split (bench/worker-memory.ts). */
    workerMemoryAtPeak: WorkerMemory | null;
    /** The split variant: the sandbox role's process (the measured worker above holds the sessions role). */
    sandboxWorkerRssMb?: { baseline: number; peak: number };
    /** The machine's CPU over the whole load (/proc/stat: every process and the kernel). */
    machineCpu?: CpuOver | null;
    /** The window with every session under way, its rate and the machine's CPU in it (bench/sustained.ts). */
    sustained?: Sustained | null;
  };
  /** Over the load: CPU seconds by process group, the server's histograms with the most time, its processes' peak RSS (VmHWM, MB, summed over the cluster's services). */
  profile: { cpuSeconds: Record<string, number>; temporalRssPeakMb: number } & ReturnType<typeof serverProfileSince>;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const now = () => performance.timeOrigin + performance.now();

/** `count` floor workflows of `steps` steps at once; the time from each step's first activity to the next step's, and its phases. */
async function floor(stack: Stack, bundle: WorkflowBundle, count: number, steps: number): Promise<{ steps: Summary; phases: PhaseSummaries }> {
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
    return { steps: percentiles(perStep), phases: await floorPhases(stack.temporal, ids, queue) };
  } finally {
    for (const w of workers) w.shutdown();
    await running;
    await connection.close();
  }
}

/**
 * `count` multi-step sessions posted at once; resolves when all have ended. One
 * query polls them all: one poller per session (200 × 7 queries/s) would load
 * Postgres and this process more than the sessions do.
 */
async function sessions(stack: Stack, count: number, steps: number, tag: string) {
  const started = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const bench = `${tag}-${i}`;
      const posted = now();
      const s = await postSession(stack, { message: 'go', metadata: { scenario: 'multi-step', repeat: String(steps), bench } });
      return { id: s.id, bench, posted };
    }),
  );
  const open = new Set(started.map((s) => s.id));
  await waitFor(
    async () => {
      const ended = await stack.db.selectFrom('sessions').select('id').where('id', 'in', [...open]).where('ended_at', 'is not', null).execute();
      for (const r of ended) open.delete(r.id);
      return open.size === 0;
    },
    900_000,
    `${open.size} sessions of ${tag} to end`,
  );
  return started;
}

/** Model answers per session by half the load's time, and each session's longest wait between two model answers. */
function progress(calls: ReadonlyMap<string, readonly ModelCall[]>, load: readonly { bench: string }[], halfTime: number) {
  const atHalf = load.map(({ bench }) => (calls.get(bench) ?? []).filter((c) => c.answered <= halfTime).length).sort((a, b) => a - b);
  const gaps = load.map(({ bench }) => {
    const mine = calls.get(bench) ?? [];
    let longest = 0;
    for (let k = 1; k < mine.length; k++) longest = Math.max(longest, (mine[k]?.answered ?? 0) - (mine[k - 1]?.answered ?? 0));
    return longest;
  });
  return {
    answersAtHalfTime: { min: atHalf[0] ?? 0, p50: atHalf[Math.floor(atHalf.length / 2)] ?? 0, max: atHalf.at(-1) ?? 0 },
    longestGapMs: percentiles(gaps),
  };
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
  run: ThroughputRun<ThroughputVariant>,
  options: {
    sessions: number;
    steps: number;
    floorBundle: WorkflowBundle;
    modelDelayMs?: number;
    workerProcess?: boolean;
    /** With workerProcess: each worker process writes V8 CPU profiles (.cpuprofile) of its whole life under here, in DIR/<variant>-<role>. */
    workerCpuProfDir?: string | undefined;
    /** With workerProcess: the compiled worker-main.js to run (bench/compiled-worker.ts) instead of the TypeScript under tsx. */
    compiledWorker?: string | undefined;
    /** The load only: no floor, no 1- and 20-session rounds (the long runs of 200 sessions fit a 10-minute slot). */
    loadOnly?: boolean;
  },
): Promise<VariantResult> {
  const { variant, label } = run;
  // NODE_OPTIONS, LD_PRELOAD and worker-main's V8 flag reach only a worker of its own; ld.so only warns about a preload it cannot find.
  const processOnly = variant.env?.NODE_OPTIONS ?? variant.env?.LD_PRELOAD ?? variant.env?.WORKER_HEAP_GROWING_PERCENT;
  if ((processOnly !== undefined || variant.splitRoles) && !options.workerProcess) throw new Error(`--variants=${label} needs --worker-process`);
  if (variant.env?.LD_PRELOAD !== undefined && !existsSync(variant.env.LD_PRELOAD)) throw new Error(`--variants=${label}: no ${variant.env.LD_PRELOAD} (apt-get install libjemalloc2)`);
  const server = await startBenchTemporal(services, run);
  const modelDelayMs = options.modelDelayMs ?? 0;
  const model = await timedMockLlm(modelDelayMs);
  const stack = await startStack(services, {
    workers: !options.workerProcess,
    env: { ...UNCAPPED, MOCK_LLM_URL: model.url, TEMPORAL_ADDRESS: server.address, ...variant.env },
  });
  // Each role's profiles in a folder of its own: node names them by pid and thread only.
  const profiling = (role: string) => (options.workerCpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(options.workerCpuProfDir, `${label}-${role}`)}`] : []);
  // The workflow threads' heaps, which the worker's /metrics cannot see, written by a preload (bench/worker-memory.ts).
  const threadHeapDir = options.workerProcess ? mkdtempSync(join(services.tmpDir, `thread-heaps-${label}-`)) : undefined;
  const roles = (role: string): Record<string, string> => (variant.splitRoles ? { WORKER_ROLES: role } : {});
  const worker = threadHeapDir
    ? new WorkerProcess(withThreadHeapPreload({ ...stack.env, ...roles('sessions') }, threadHeapDir), join(services.tmpDir, `worker-${label}.log`), profiling(variant.splitRoles ? 'sessions' : 'worker'), options.compiledWorker)
    : undefined;
  // The split variant: the sandbox role beside it, on the same host id (the sessions' tools reach its queue).
  const sandboxWorker = worker && variant.splitRoles ? new WorkerProcess({ ...stack.env, ...roles('sandbox') }, join(services.tmpDir, `worker-${label}-sandbox.log`), profiling('sandbox'), options.compiledWorker) : undefined;
  const rss = () => (worker?.pid ? rssOf(worker.pid) : process.memoryUsage().rss);
  try {
    await sandboxWorker?.start();
    await worker?.start();
    await sessions(stack, 1, 1, `${label}-warm`);
    const phase = (what: string) => console.log(`[throughput ${label}] ${new Date().toISOString()} ${what}`);
    let small: Pick<VariantResult, 'floorStepMs' | 'stepOverheadMs' | 'overheadOverFloorP50' | 'stepPhasesMs'> = {
      floorStepMs: null,
      stepOverheadMs: null,
      overheadOverFloorP50: null,
      stepPhasesMs: null,
    };
    if (!options.loadOnly) {
      phase('floor');
      await floor(stack, options.floorBundle, 1, 2);
      const { steps: floor1, phases: floorPhases1 } = await floor(stack, options.floorBundle, 1, 10);
      const { steps: floor20, phases: floorPhases20 } = await floor(stack, options.floorBundle, 20, 5);
      phase('1 and 20 sessions');
      const one = await sessions(stack, 1, 10, `${label}-c1`);
      const twenty = await sessions(stack, 20, 5, `${label}-c20`);
      const over1 = percentiles((await stepTimings(stack, model.calls, one)).overhead);
      const over20 = percentiles((await stepTimings(stack, model.calls, twenty)).overhead);
      small = {
        floorStepMs: { concurrency1: floor1, concurrency20: floor20 },
        stepOverheadMs: { concurrency1: over1, concurrency20: over20 },
        overheadOverFloorP50: {
          concurrency1: Math.round((over1.p50 / floor1.p50) * 100) / 100,
          concurrency20: Math.round((over20.p50 / floor20.p50) * 100) / 100,
        },
        stepPhasesMs: {
          concurrency1: await sessionPhases(stack, model.calls, one),
          concurrency20: await sessionPhases(stack, model.calls, twenty),
          floor1: floorPhases1,
          floor20: floorPhases20,
        },
      };
    }
    phase(`load of ${options.sessions} sessions`);

    // The load, with RSS sampled and sequential POSTs of tool-less sessions beside it.
    const serverBefore = await serverSnapshot(server.metricsUrls);
    const groupsNow = () => cpuByGroup(server.processes, worker?.pid, sandboxWorker?.pid, threadHeapDir ? workflowThreadTids(threadHeapDir) : []);
    const cpuBefore = groupsNow();
    // Every 5 s: each sample reads every process of the machine (~1000 with 200 sandboxes), tens of ms of CPU.
    const groupSamples: GroupSample[] = [{ at: now(), groups: cpuBefore }];
    const groupSampler = setInterval(() => groupSamples.push({ at: now(), groups: groupsNow() }), 5_000);
    const rssBaseline = rss();
    let rssPeak = rssBaseline;
    const sandboxRss = () => (sandboxWorker?.pid ? rssOf(sandboxWorker.pid) : 0);
    const sandboxRssBaseline = sandboxRss();
    let sandboxRssPeak = sandboxRssBaseline;
    const cpuSamples: CpuSample[] = [machineCpu(now())];
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rss());
      sandboxRssPeak = Math.max(sandboxRssPeak, sandboxRss());
      cpuSamples.push(machineCpu(now()));
    }, 250);
    const memory = worker?.healthPort ? sampleWorkerMemory(`http://127.0.0.1:${worker.healthPort}/metrics`, 1_000, threadHeapDir) : undefined;
    let loading = true;
    const posts: number[] = [];
    const postStages = new Map<string, number[]>();
    let postFailures = 0;
    const probes = (async () => {
      while (loading) {
        const t = now();
        const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'probe', metadata: { scenario: 'default', bench: 'probe' } });
        await res.arrayBuffer();
        // A refused start (503 when the dev server is overwhelmed) is counted, not fatal.
        if (res.status === 201) {
          posts.push(now() - t);
          for (const [stage, ms] of Object.entries(parseServerTiming(res.headers.get('server-timing')))) postStages.set(stage, [...(postStages.get(stage) ?? []), ms]);
        } else postFailures++;
        // One a second: each probe is a session of its own (a model call, a workflow in the cache); at 10 a
        // second with a 1 s model delay the probes outnumbered the load they measure.
        await new Promise((r) => setTimeout(r, 1_000));
      }
    })();
    // A viewer beside them: the console reads a session on each of its events; here a running one, five a second.
    const gets: number[] = [];
    let getFailures = 0;
    const looks = (async () => {
      while (loading) {
        const list = await stack.api('GET', '/v1/sessions?status=running&limit=50', 'alice');
        const running = list.status === 200 ? ((await list.json()) as { data: { id: string }[] }).data : [];
        const pick = running[Math.floor(Math.random() * running.length)];
        if (pick) {
          const t = now();
          const res = await stack.api('GET', `/v1/sessions/${pick.id}`, 'alice');
          await res.arrayBuffer();
          if (res.status === 200) gets.push(now() - t);
          else getFailures++;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const started = now();
    const load = await sessions(stack, options.sessions, options.steps, `${label}-load`);
    const ended = now();
    cpuSamples.push(machineCpu(ended));
    clearInterval(groupSampler);
    const cpuAfter = groupsNow();
    groupSamples.push({ at: ended, groups: cpuAfter });
    const seconds = (ended - started) / 1000;
    loading = false;
    await Promise.all([probes, looks]);
    clearInterval(sampler);
    const workerMemoryAtPeak = (await memory?.stop()) ?? null;
    const profile = {
      cpuSeconds: cpuSince(cpuBefore, cpuAfter),
      ...serverProfileSince(serverBefore, await serverSnapshot(server.metricsUrls)),
      temporalRssPeakMb: temporalRssPeakMb(server.processes),
    };
    const checked = await check(stack, load.map((l) => l.id), options.steps);
    const steps = options.sessions * options.steps - checked.missingToolRuns;
    return {
      label,
      temporal: run.server,
      env: variant.env ?? {},
      server: [...(variant.server ?? []), ...(variant.sqlitePragmas ?? []).flatMap((p) => ['--sqlite-pragma', p])],
      ...(run.server === 'dev' ? { serverEnv: devServerEnv(variant.serverEnv) } : {}),
      poolMaxTotal: stack.config.SANDBOX_POOL_MAX_TOTAL,
      maxCachedWorkflows: stack.config.WORKER_MAX_CACHED_WORKFLOWS ?? null,
      modelDelayMs,
      worker: worker ? (options.compiledWorker ? 'compiled' : 'process') : 'in-process',
      ...small,
      load: {
        sessions: options.sessions,
        stepsPerSession: options.steps,
        seconds: Math.round(seconds * 10) / 10,
        toolStepsPerSecond: Math.round((steps / seconds) * 100) / 100,
        ...checked,
        stepOverheadMs: percentiles((await stepTimings(stack, model.calls, load)).overhead),
        startToFirstModelCallMs: percentiles(load.map((l) => (model.calls.get(l.bench)?.[0]?.arrived ?? Number.NaN) - l.posted).filter((v) => !Number.isNaN(v))),
        progress: progress(model.calls, load, started + (seconds * 1000) / 2),
        longestGap: await longestGap(stack, model.calls, load),
        sandboxHolds: await sandboxHolds(stack.temporal, load.map((l) => l.id), stack.config.SANDBOX_POOL_MAX_TOTAL),
        postSessionMs: percentiles(posts),
        postStagesMs: Object.fromEntries([...postStages].map(([stage, ms]) => [stage, percentiles(ms)])),
        postFailures,
        getSessionMs: percentiles(gets),
        getFailures,
        rssBaselineMb: mb(rssBaseline),
        rssPeakMb: mb(rssPeak),
        rssPerActiveSessionMb: Math.round((mb(rssPeak - rssBaseline) / options.sessions) * 100) / 100,
        workerMemoryAtPeak,
        ...(sandboxWorker ? { sandboxWorkerRssMb: { baseline: mb(sandboxRssBaseline), peak: mb(sandboxRssPeak) } } : {}),
        machineCpu: cpuOver(cpuSamples, started, ended, steps, availableParallelism()),
        sustained: sustained(model.calls, load, started, cpuSamples, availableParallelism(), groupSamples),
      },
      profile,
    };
  } finally {
    await worker?.stop();
    await sandboxWorker?.stop();
    await stack.close();
    model.close();
    await server.stop();
  }
}

/** The floor's bundle, built once per run with the same interceptors as the sessions' bundle. */
export function floorBundle(): Promise<WorkflowBundle> {
  return loadWorkflowBundle({ workflowsPath: FLOOR_WORKFLOWS });
}

/**
 * Gauges the API process computes when Prometheus scrapes it:
 * `agent_active_count{status}` (sessions not yet ended, from Postgres),
 * `session_starts_pending` and `session_start_oldest_pending_seconds` (the
 * workflow starts not yet taken by Temporal, api/session-starter.ts) and
 * `queue_length{task_queue,type}` (the approximate backlog of the sessions
 * and sandbox task queues, from Temporal's DescribeTaskQueue with
 * reportStats). Every API instance reports the same values: aggregate them
 * with max(), not sum().
 *
 * /metrics is not authenticated, so a source is read at most once per
 * `maxAgeMs` however often it is scraped, and never for longer than
 * `timeoutMs`. A source that fails leaves its gauge without samples for that
 * scrape (never a stale value; the unlabelled session-start gauges, which
 * always have one, say NaN), counts metrics_collector_errors_total and
 * logs a warning; the rest of /metrics still answers.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/client.js';
import { countActiveSessionsByStatus } from '../db/sessions-query.js';
import { pendingSessionStarts } from '../db/session-starts.js';
import { ACTIVE_STATUSES } from '../domain/session.js';
import { taskQueues } from '../domain/temporal-names.js';
import type { Logger } from '../observability/logger.js';
import { METRIC_NAMES } from '../observability/metrics.js';

const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;

/** The kinds of task a Temporal task queue holds (the `type` label of queue_length). */
export type QueueTaskType = 'workflow' | 'activity';

/** One task queue and the task types reported for it. */
export interface ReportedQueue {
  readonly taskQueue: string;
  readonly types: readonly QueueTaskType[];
}

/** Where the gauges' values come from (our seams: tests pass fakes). */
export interface ApiCollectorSources {
  /** Sessions not yet ended, counted by status. */
  activeSessions(): Promise<readonly { status: string; count: number }[]>;
  /** The approximate number of tasks of `type` waiting in `taskQueue`. */
  queueBacklog(taskQueue: string, type: QueueTaskType): Promise<number>;
  /** Workflow starts Temporal has not taken yet, and the age of the oldest (none: those gauges have no samples). */
  pendingStarts?(): Promise<{ count: number; oldestSeconds: number }>;
}

export interface ApiCollectorOptions {
  readonly sources: ApiCollectorSources;
  /** The queues reported: a fixed list, so the label set stays bounded. */
  readonly queues: readonly ReportedQueue[];
  readonly timeoutMs?: number;
  readonly maxAgeMs?: number;
  readonly logger?: Logger | undefined;
}

/** The sessions queue (workflows and activities) and the shared sandbox queue (claims); not the per-host queues. */
export function reportedQueues(prefix: string): ReportedQueue[] {
  const queues = taskQueues(prefix);
  return [
    { taskQueue: queues.sessions, types: ['workflow', 'activity'] },
    { taskQueue: queues.sandbox, types: ['activity'] },
  ];
}

/** Sessions whose `ended_at` is not set yet, by status (one grouped count over every tenant). */
export function postgresActiveSessions(db: Db): ApiCollectorSources['activeSessions'] {
  return () => countActiveSessionsByStatus(db);
}

/** DescribeTaskQueue with reportStats: the server's approximate backlog count of one task type. */
export function temporalQueueBacklog(
  client: Pick<Client, 'connection' | 'workflowService'>,
  namespace: string,
  timeoutMs = 2_000,
): ApiCollectorSources['queueBacklog'] {
  return async (taskQueue, type) => {
    const res = await client.connection.withDeadline(Date.now() + timeoutMs, () =>
      client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: type === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        reportStats: true,
      }),
    );
    // A server too old to report stats answers without them: no value rather than a false 0.
    if (!res.stats) throw new Error(`Temporal reported no stats for task queue ${taskQueue}`);
    // Zero is left out on the wire.
    return Number(res.stats.approximateBacklogCount ?? 0);
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Concurrent callers share one read in flight; a finished read is reused for
 * `maxAgeMs` if `keep` says so (a read with failures is not kept).
 */
function shared<T>(read: () => Promise<T>, maxAgeMs: number, keep: (value: T) => boolean): () => Promise<T> {
  let last: { at: number; value: Promise<T>; done: boolean; keep: boolean } | undefined;
  return () => {
    const now = performance.now();
    if (last && (!last.done || (last.keep && now - last.at < maxAgeMs))) return last.value;
    const entry = { at: now, value: read(), done: false, keep: false };
    entry.value.then(
      (v) => Object.assign(entry, { done: true, keep: keep(v) }),
      () => Object.assign(entry, { done: true }),
    );
    last = entry;
    return entry.value;
  };
}

/** Registers agent_active_count, the pending session starts and queue_length (and their error counter) on `registry`. */
export function registerApiCollectors(registry: Registry, options: ApiCollectorOptions): void {
  const { sources, queues, timeoutMs = 2_000, maxAgeMs = 5_000, logger } = options;
  const pairs = queues.flatMap((q) => q.types.map((type) => ({ taskQueue: q.taskQueue, type })));

  // One read of every source serves the three metrics of a scrape; failures are counted as they happen.
  const snapshot = shared(
    async () => {
      const [active, starts, ...backlogs] = await Promise.allSettled([
        withTimeout(Promise.resolve().then(() => sources.activeSessions()), timeoutMs, 'active sessions'),
        withTimeout(Promise.resolve().then(() => sources.pendingStarts?.()), timeoutMs, 'pending session starts'),
        ...pairs.map((p) =>
          withTimeout(Promise.resolve().then(() => sources.queueBacklog(p.taskQueue, p.type)), timeoutMs, `backlog of ${p.taskQueue} (${p.type})`),
        ),
      ]);
      const failures = [active, starts, ...backlogs].filter((r) => r.status === 'rejected').length;
      if (active?.status === 'rejected') failed(METRIC_NAMES.agentActiveCount, active.reason);
      if (starts?.status === 'rejected') failed(METRIC_NAMES.sessionStartsPending, starts.reason);
      for (const b of backlogs) if (b.status === 'rejected') failed(METRIC_NAMES.queueLength, b.reason);
      return { active, starts, backlogs, failures };
    },
    maxAgeMs,
    (s) => s.failures === 0,
  );

  const errors = new Counter({
    name: METRIC_NAMES.collectorErrorsTotal,
    help: 'Reads of a scrape-time gauge that failed or timed out, by gauge',
    labelNames: ['collector'],
    registers: [registry],
    // Failures of this scrape's read are counted in this scrape.
    async collect() {
      await snapshot();
    },
  });
  // Present from the first scrape, so that rate() and increase() see the first failure.
  for (const collector of [METRIC_NAMES.agentActiveCount, METRIC_NAMES.queueLength, ...(sources.pendingStarts ? [METRIC_NAMES.sessionStartsPending] : [])]) {
    errors.inc({ collector }, 0);
  }
  function failed(collector: string, err: unknown) {
    errors.inc({ collector });
    logger?.warn('metrics collector failed', { collector, err });
  }

  new Gauge({
    name: METRIC_NAMES.agentActiveCount,
    help: 'Agent sessions not yet ended, by status (Postgres, read at scrape time)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      const { active } = await snapshot();
      if (active?.status !== 'fulfilled') return;
      // Every status of a session that has not ended is reported, 0 when none.
      for (const status of ACTIVE_STATUSES) this.set({ status }, 0);
      for (const row of active.value) this.set({ status: row.status }, row.count);
    },
  });

  // Starts are deleted once Temporal has them (milliseconds after their POST): one that stays means Temporal does not
  // take starts, or no API instance runs the sweep. Unlabelled gauges always have a sample: NaN when the read failed.
  const pendingStart = (name: string, help: string, value: (v: { count: number; oldestSeconds: number }) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const { starts } = await snapshot();
        this.set(starts?.status === 'fulfilled' && starts.value ? value(starts.value) : Number.NaN);
      },
    });
  if (sources.pendingStarts) {
    pendingStart(METRIC_NAMES.sessionStartsPending, 'Sessions whose workflow start Temporal has not taken yet (Postgres, read at scrape time)', (v) => v.count);
    pendingStart(METRIC_NAMES.sessionStartOldestPending, 'Age of the oldest session start Temporal has not taken yet; 0 when none (read at scrape time)', (v) => v.oldestSeconds);
  }

  new Gauge({
    name: METRIC_NAMES.queueLength,
    help: "Approximate backlog of a Temporal task queue by task type (the server's DescribeTaskQueue stats, read at scrape time)",
    labelNames: ['task_queue', 'type'],
    registers: [registry],
    async collect() {
      this.reset();
      const { backlogs } = await snapshot();
      backlogs.forEach((b, i) => {
        const pair = pairs[i];
        if (b.status === 'fulfilled' && pair) this.set({ task_queue: pair.taskQueue, type: pair.type }, b.value);
      });
    },
  });
}

/** The production sources: Postgres for sessions, the Temporal client for backlogs. */
export function apiCollectorSources(deps: { db: Db; temporal: Pick<Client, 'connection' | 'workflowService'>; namespace: string }): ApiCollectorSources {
  return {
    activeSessions: postgresActiveSessions(deps.db),
    queueBacklog: temporalQueueBacklog(deps.temporal, deps.namespace),
    pendingStarts: () => pendingSessionStarts(deps.db),
  };
}

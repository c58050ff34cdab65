/**
 * Where a benchmark's CPU goes, by process, from /proc (Linux): this process
 * (API, workers, mock LLM), the Temporal dev server, Postgres, Docker's
 * daemons, and the sandbox containers' own processes (their cgroup). Machine-wide processes are
 * shared with whatever else runs, so read them as an upper bound.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

type Groups = Record<string, number>;

function cpuSeconds(pid: number | string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Every process now, with its command line (NUL-separated); one that ends while listed is skipped. */
function* processes(): Generator<{ pid: number; cmd: string }> {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      yield { pid: Number(entry), cmd: readFileSync(`/proc/${entry}/cmdline`, 'utf8') };
    } catch {
      // the process ended meanwhile
    }
  }
}

/** A `kB` line of a process's /proc status (VmRSS: resident now, VmHWM: its peak); 0 once it has ended. */
function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Resident memory of a process (VmRSS), in bytes; 0 once it has ended. */
export function rssOf(pid: number): number {
  return statusKb(pid, 'VmRSS') * 1024;
}

/**
 * CPU seconds the sandbox containers' processes have used (their init, exec channel and tools), from the cgroup Docker
 * puts them under with its cgroupfs driver: a parent's counter keeps what removed containers used. Undefined where
 * there is no such cgroup (another driver or layout).
 */
export function containersCpuSeconds(): number | undefined {
  const v1 = '/sys/fs/cgroup/cpuacct/docker/cpuacct.usage'; // nanoseconds
  const v2 = '/sys/fs/cgroup/docker/cpu.stat'; // usage_usec
  try {
    return Number(readFileSync(v1, 'utf8')) / 1e9;
  } catch {
    try {
      return Number(/^usage_usec (\d+)$/m.exec(readFileSync(v2, 'utf8'))?.[1] ?? Number.NaN) / 1e6 || undefined;
    } catch {
      return undefined;
    }
  }
}

/** Whether `pid` with command line `cmd` is the run's Temporal: the dev server whose command line holds `temporal`, or one of the cluster's pids. */
function isTemporal(temporal: string | readonly number[], pid: number, cmd: string): boolean {
  return typeof temporal === 'string' ? cmd.includes(temporal) : temporal.includes(pid);
}

/** The peak resident memory (VmHWM) of the run's Temporal processes, summed, in MB: each is fresh for its run, so this is the run's peak (of each process). */
export function temporalRssPeakMb(temporal: string | readonly number[]): number {
  let kb = 0;
  for (const { pid, cmd } of processes()) if (isTemporal(temporal, pid, cmd)) kb += statusKb(pid, 'VmHWM');
  return Math.round(kb / 102.4) / 10;
}

/**
 * CPU seconds so far per group; `temporal` is the dev server whose command line holds `temporal`
 * (a string), or the cluster's service processes (their pids), `worker` the worker process
 * `workerPid` when the workers run in one of their own, `sandboxWorker` the sandbox role's process when the roles
 * run apart (the `split` variant), `workflowThreads` the worker's threads `workflowThreadTids` (a part of `worker`).
 */
export function cpuByGroup(temporal: string | readonly number[], workerPid?: number, sandboxWorkerPid?: number, workflowThreadTids: readonly number[] = []): Groups {
  const groups: Groups = { bench: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6, worker: 0, temporal: 0, postgres: 0, docker: 0 };
  for (const { pid, cmd } of processes()) {
    if (pid === process.pid) continue;
    const group =
      pid === workerPid ? 'worker' : pid === sandboxWorkerPid ? 'sandboxWorker' : isTemporal(temporal, pid, cmd) ? 'temporal' : /^postgres|\/postgres/.test(cmd) ? 'postgres' : /dockerd|containerd|runc/.test(cmd) ? 'docker' : undefined;
    if (!group) continue;
    try {
      groups[group] = (groups[group] ?? 0) + cpuSeconds(pid);
    } catch {
      // the process ended meanwhile
    }
  }
  // A part of the worker's: its workflow threads (bench/workflow-thread-heap.cjs names them), where workflow code runs.
  if (workerPid !== undefined && workflowThreadTids.length > 0) {
    groups.workflowThreads = 0;
    for (const tid of workflowThreadTids) {
      try {
        groups.workflowThreads += cpuSeconds(`${workerPid}/task/${tid}`);
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  const containers = containersCpuSeconds();
  if (containers !== undefined) groups.containers = containers;
  return groups;
}

export function cpuSince(before: Groups, after: Groups): Groups {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, Math.round((v - (before[k] ?? 0)) * 10) / 10]));
}

/** A label's value in a metric line's labels (`name="value"`), or '' where it has none. */
const label = (labels: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? '';

/** The server's histograms (`_sum`, `_count`) by name and operation, for a diff over the load; summed over the cluster's services. */
function serverHistograms(lines: readonly string[]): Map<string, { sum: number; count: number }> {
  const out = new Map<string, { sum: number; count: number }>();
  for (const line of lines) {
    const m = /^(\w+)_(sum|count)\{([^}]*)\} ([\d.e+-]+)$/.exec(line);
    if (!m) continue;
    const [, name, kind, labels, value] = m as unknown as [string, string, string, string, string];
    const op = label(labels, 'operation');
    const key = `${name}${op ? `{${op}}` : ''}`;
    const entry = out.get(key) ?? { sum: 0, count: 0 };
    if (kind === 'sum') entry.sum += Number(value);
    else entry.count += Number(value);
    out.set(key, entry);
  }
  return out;
}

/** The lines of the server's /metrics, all services' together. */
async function scrape(metricsUrls: readonly string[]): Promise<string[]> {
  const texts = await Promise.all(metricsUrls.map(async (url) => (await fetch(url)).text()));
  return texts.join('\n').split('\n');
}

/**
 * A counter's values so far by `key(labels)` (lines it gives no key are left out), summed over the cluster's
 * services (Prometheus: with or without `_total`).
 */
function serverCounter(lines: readonly string[], name: string, key: (labels: string) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const line = new RegExp(`^${name}(?:_total)?\\{([^}]*)\\} ([\\d.e+-]+)$`);
  for (const text of lines) {
    const m = line.exec(text);
    if (!m) continue;
    const k = key(m[1] ?? '');
    if (k === undefined) continue;
    out.set(k, (out.get(k) ?? 0) + Number(m[2]));
  }
  return out;
}

/**
 * The history queues' mitigator actions so far (`queue_actions`), by action and queue: `queue-pending-task` when a
 * queue held more tasks than `history.queuePendingTaskCriticalCount`, `slice-count` past `history.queueCriticalSlicesCount`,
 * `slice-predicate` at every checkpoint, `reader-stuck` when a scheduled queue's reader has not moved in `history.queueReaderStuckCriticalAttempts` checkpoints (the server writes them with `_` for `-`). The first two split the queue's slices, and later reads pay for it.
 */
function serverQueueActions(lines: readonly string[]): Map<string, number> {
  return serverCounter(lines, 'queue_actions', (labels) => `${label(labels, 'queue_action')}{${label(labels, 'operation')}}`);
}

/** What grew between two scrapes of counters, zero growth left out. */
function countersSince(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, d]) => d > 0));
}

/**
 * The history queues' mean state at their checkpoints between two scrapes: in-memory pending tasks (`pending_tasks`),
 * slices (`queue_slice_count`) and readers (`queue_reader_count`), by queue.
 */
function queueMeans(before: Map<string, { sum: number; count: number }>, after: Map<string, { sum: number; count: number }>) {
  return Object.fromEntries(
    [...after]
      .filter(([key]) => /^(pending_tasks|queue_slice_count|queue_reader_count)\{/.test(key))
      .map(([key, a]) => {
        const b = before.get(key) ?? { sum: 0, count: 0 };
        return [key, a.count > b.count ? Math.round(((a.sum - b.sum) / (a.count - b.count)) * 10) / 10 : 0] as const;
      })
      .filter(([, mean]) => mean > 0),
  );
}

/** The histograms with the most time spent between two scrapes (seconds, as the server reports them). */
function topHistograms(before: Map<string, { sum: number; count: number }>, after: Map<string, { sum: number; count: number }>, top = 15) {
  return [...after.entries()]
    .map(([key, a]) => {
      const b = before.get(key) ?? { sum: 0, count: 0 };
      const count = a.count - b.count;
      const sum = a.sum - b.sum;
      return { key, count, totalS: Math.round(sum * 100) / 100, meanMs: count > 0 ? Math.round((sum / count) * 1000 * 10) / 10 : 0 };
    })
    // Time only: the server also keeps size histograms (bytes) under the same suffixes.
    .filter((h) => h.count > 0 && h.key.includes('latency'))
    .sort((x, y) => y.totalS - x.totalS)
    .slice(0, top);
}

/** What the server's /metrics say at one moment, for serverProfileSince. */
export async function serverSnapshot(metricsUrls: readonly string[]) {
  const lines = await scrape(metricsUrls);
  return {
    histograms: serverHistograms(lines),
    queueActions: serverQueueActions(lines),
    // What clients asked the server (its frontend: RecordActivityTaskHeartbeat, say; the frontend asks the history
    // service again, counted there too), and what it asked its database for.
    requests: serverCounter(lines, 'service_requests', (labels) => (label(labels, 'service_name') === 'frontend' ? label(labels, 'operation') : undefined)),
    persistence: serverCounter(lines, 'persistence_requests', (labels) => label(labels, 'operation')),
  };
}

/** The server over a load, from two snapshots: where its time went, and its history queues' mitigator. */
export function serverProfileSince(before: Awaited<ReturnType<typeof serverSnapshot>>, after: Awaited<ReturnType<typeof serverSnapshot>>) {
  return {
    serverHistograms: topHistograms(before.histograms, after.histograms),
    queueActions: countersSince(before.queueActions, after.queueActions),
    queueMeans: queueMeans(before.histograms, after.histograms),
    serverRequests: countersSince(before.requests, after.requests),
    persistenceRequests: countersSince(before.persistence, after.persistence),
  };
}

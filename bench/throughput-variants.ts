/**
 * The throughput bench's variants (bench/throughput.ts, `--variants=a,b`): what each changes of the stack, the
 * worker process or the dev server, by name or numbered (`pool64`), joined with `+`.
 */
import { fileURLToPath } from 'node:url';
import { DEV_DYNAMIC_CONFIG } from '../temporal/dev-server.js';
import type { DevServerSettings } from './throughput-server.js';

export interface ThroughputVariant extends DevServerSettings {
  readonly label: string;
  /** Environment overrides of the stack (config/index.ts names). */
  readonly env?: Record<string, string>;
  /**
   * The worker's two roles in two processes, as deploy/k8s runs them: `sessions` (the workflows, model calls and
   * events) in the measured worker, `sandbox` (the pool's containers and the tools) in a second one.
   */
  readonly splitRoles?: boolean;
  /**
   * What the variant changes of the dev server's dynamic config (DEV_DYNAMIC_CONFIG): a key's value, or null for
   * Temporal's default. throughputVariant sets `dynamicConfig`, the whole list that results; joined variants merge
   * their changes.
   */
  readonly dynamicConfigChanges?: Readonly<Record<string, string | null>>;
}

/** Debian's libjemalloc2 (the `jemalloc` variant; `apt-get install libjemalloc2`). */
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

/** The dev server's dynamic config with `changes` made: a key set to a value, or left at Temporal's default (null). */
function devDynamicConfig(changes: Readonly<Record<string, string | null>>): string[] {
  const kept = DEV_DYNAMIC_CONFIG.filter((v) => !Object.hasOwn(changes, v.slice(0, v.indexOf('='))));
  return [...kept, ...Object.entries(changes).flatMap(([key, value]) => (value === null ? [] : [`${key}=${value}`]))];
}

/** A variant that changes the dev server's dynamic config (the list itself is made once, by throughputVariant). */
function configVariant(label: string, changes: Readonly<Record<string, string | null>>): ThroughputVariant {
  return { label, dynamicConfigChanges: changes };
}

/** The variants `--variants=a,b` picks from; the first is the baseline of the ratios in the README. */
export const THROUGHPUT_VARIANTS: Record<string, ThroughputVariant> = {
  default: { label: 'default' },
  /** Without eager activity dispatch, the dev server's default before issue 16's eager change. */
  noeager: configVariant('noeager', { 'system.enableActivityEagerExecution': null }),
  /**
   * The server's search-attribute cache kept for its minute, where the CLI's dev server rereads the cluster's metadata
   * from SQLite on every read of it (a workflow start, a visibility record) so that a new attribute is seen at once.
   */
  sacache: configVariant('sacache', { 'system.forceSearchAttributesCacheRefreshOnRead': 'false' }),
  /** The CLI's own SQLite settings (rollback journal), the dev server's default before issue 16. */
  rollback: { label: 'rollback', sqlitePragmas: [] },
  autoscaling: { label: 'autoscaling', env: { WORKER_POLLERS: 'autoscaling' } },
  /** Model calls as local activities (SESSION_LOCAL_MODEL_CALLS): one activity task and one workflow task fewer per step. */
  local: { label: 'local', env: { SESSION_LOCAL_MODEL_CALLS: 'true' } },
  /** No workflow promise hook (no stack traces for the `__stack_trace` query): WORKER_WORKFLOW_STACK_TRACES=off. */
  nostack: { label: 'nostack', env: { WORKER_WORKFLOW_STACK_TRACES: 'off' } },
  /** The SDK's own hook, formatting each promise's stack as it is made (the default was this before `lazy`). */
  eagerstack: { label: 'eagerstack', env: { WORKER_WORKFLOW_STACK_TRACES: 'eager' } },
  /** The SDK's per-call isolate timeout (a watchdog thread per call into the workflows' context) dropped: a measurement, see the file. */
  notimeout: { label: 'notimeout', env: { NODE_OPTIONS: `--require ${fileURLToPath(new URL('./no-isolate-timeout.cjs', import.meta.url))}` } },
  /** A full GC in each workflow thread every 5 s, to read its live heap (bench/workflow-thread-heap.cjs): a measurement. */
  threadgc: { label: 'threadgc', env: { NODE_OPTIONS: '--expose-gc', KORTIX_BENCH_THREAD_HEAP_GC_MS: '5000' } },
  /** jemalloc instead of glibc's malloc for the worker process (Debian's libjemalloc2): the native part of its memory. */
  jemalloc: { label: 'jemalloc', env: { LD_PRELOAD: JEMALLOC } },
  /** The sessions and sandbox roles in processes of their own (a worker process only): each one's memory apart. */
  split: { label: 'split', splitRoles: true },
};

/** The numbered variants: the environment variable each sets. */
const NUMBERED_VARIANTS: Record<string, string> = {
  cache: 'WORKER_MAX_CACHED_WORKFLOWS',
  pool: 'SANDBOX_POOL_MAX_TOTAL',
  arena: 'MALLOC_ARENA_MAX',
  wft: 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS',
  /** Activity task slots of each worker (both roles' processes): `act200` lets the sandbox worker hold every session's tool call. */
  act: 'WORKER_MAX_CONCURRENT_ACTIVITIES',
  evict: 'SANDBOX_POOL_EVICT_IDLE',
  /** Set by temporal/worker-main.ts: a worker process of its own only (`grow0`: V8's own growing). */
  grow: 'WORKER_HEAP_GROWING_PERCENT',
  /** V8's largest semi-space (MB) for every isolate of the worker process, the main thread's too (a worker process of its own only). */
  semi: 'NODE_OPTIONS',
  /** Seconds between Docker's health checks of each sandbox (`health30`: the image's own interval, as before; `health0`: none). */
  health: 'SANDBOX_ENGINE_HEALTHCHECK_INTERVAL',
};
/**
 * The numbered variants that set one dev-server dynamic config value (replacing the default's, if it sets one):
 * `pollrpsN`, the history shard's transfer-queue reads per second (the dev server has one shard); `ackN`, seconds between
 * its checkpoints; `stuckN`, the reader-stuck threshold.
 */
const NUMBERED_DYNAMIC_CONFIG: Record<string, string> = {
  pollrps: 'history.transferProcessorMaxPollRPS',
  /** Seconds between the transfer queue's checkpoints, where it drops the tasks done from its tracker (Temporal's 30). */
  ack: 'history.transferProcessorUpdateAckInterval',
  /** Checkpoints a scheduled queue's reader may sit on one second before the `reader-stuck` action splits it off (Temporal's 3; 0: never). */
  stuck: 'history.queueReaderStuckCriticalAttempts',
};
/** The numbered variants that set one environment variable of the dev server's process: `gogcN`, the Go runtime's GC target (the dev server's DEV_SERVER_GOGC by default; `gogc100` is Go's own). */
const NUMBERED_SERVER_ENV: Record<string, string> = {
  gogc: 'GOGC',
};
/** The unit a numbered variant's number is in, where its variable wants one. */
const NUMBER_UNITS: Record<string, string> = { evict: 'ms', health: 's' };
/** What comes before a numbered variant's number, where its variable wants it. */
const NUMBER_PREFIXES: Record<string, string> = { semi: '--max-semi-space-size=' };

/** Two variants' environments; node's options add up (`semi4+notimeout`), any other variable is the later one's. */
function mergeEnv(a: Record<string, string> = {}, b: Record<string, string> = {}): Record<string, string> {
  const nodeOptions = [a.NODE_OPTIONS, b.NODE_OPTIONS].filter(Boolean).join(' ');
  return { ...a, ...b, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
}

/**
 * A variant by name: one of THROUGHPUT_VARIANTS, or `cacheN` (WORKER_MAX_CACHED_WORKFLOWS=N), `poolN`
 * (SANDBOX_POOL_MAX_TOTAL=N), `semiN` (node --max-semi-space-size=N), `arenaN` (glibc's MALLOC_ARENA_MAX=N for the stack's processes: the worker process's
 * native memory), `wftN` (WORKER_MAX_CONCURRENT_WORKFLOW_TASKS=N), `actN` (WORKER_MAX_CONCURRENT_ACTIVITIES=N), `evictN` (SANDBOX_POOL_EVICT_IDLE=Nms), `healthN` (SANDBOX_ENGINE_HEALTHCHECK_INTERVAL=Ns), `gogcN` (the dev server's
 * GOGC=N), joined with `+`
 * (`pool64+cache100`).
 */
export function throughputVariant(name: string): ThroughputVariant {
  const parts = name.split('+').map((part): ThroughputVariant => {
    const named = THROUGHPUT_VARIANTS[part];
    if (named) return named;
    const numbered = [...Object.keys(NUMBERED_VARIANTS), ...Object.keys(NUMBERED_DYNAMIC_CONFIG), ...Object.keys(NUMBERED_SERVER_ENV)];
    const m = new RegExp(`^(${numbered.join('|')})(\\d+)$`).exec(part);
    if (!m?.[1]) throw new Error(`--variants: no variant ${part} (${[...Object.keys(THROUGHPUT_VARIANTS), ...numbered.map((k) => `${k}N`)].join(', ')})`);
    const key = NUMBERED_DYNAMIC_CONFIG[m[1]];
    if (key) return configVariant(part, { [key]: m[2] ?? '' });
    const serverVar = NUMBERED_SERVER_ENV[m[1]];
    if (serverVar) return { label: part, serverEnv: { [serverVar]: m[2] ?? '' } };
    return { label: part, env: { [NUMBERED_VARIANTS[m[1]] ?? '']: `${NUMBER_PREFIXES[m[1]] ?? ''}${m[2] ?? ''}${NUMBER_UNITS[m[1]] ?? ''}` } };
  });
  // The dynamic config changes of all parts, together; one key set twice is a mistake in the name.
  const changes: Record<string, string | null> = {};
  for (const part of parts) {
    for (const [key, value] of Object.entries(part.dynamicConfigChanges ?? {})) {
      if (Object.hasOwn(changes, key)) throw new Error(`--variants: ${name} sets ${key} twice`);
      changes[key] = value;
    }
  }
  const joined = parts.reduce((a, b) => ({
    label: name,
    env: mergeEnv(a.env, b.env),
    ...((b.server ?? a.server) ? { server: [...(a.server ?? []), ...(b.server ?? [])] } : {}),
    ...((b.sqlitePragmas ?? a.sqlitePragmas) ? { sqlitePragmas: b.sqlitePragmas ?? a.sqlitePragmas } : {}),
    ...((a.splitRoles ?? b.splitRoles) ? { splitRoles: true } : {}),
    ...((a.serverEnv ?? b.serverEnv) ? { serverEnv: { ...a.serverEnv, ...b.serverEnv } } : {}),
  }));
  return Object.keys(changes).length ? { ...joined, dynamicConfig: devDynamicConfig(changes), dynamicConfigChanges: changes } : joined;
}


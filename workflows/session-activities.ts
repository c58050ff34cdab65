/**
 * The activities an agent session calls, with their budgets, and what their
 * failures mean to it.
 *
 * Every activity has a bounded retry budget. Retries heal a lost connection or
 * a restarting service; errors no retry can heal (bad data, a violated
 * constraint, invalid input) are non-retryable where they happen
 * (activities/permanent-errors.ts), so the session fails at once saying why.
 * Retry options are not compared on replay: recorded histories still replay.
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure, proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { HostQueueActivities, SandboxQueueActivities, SessionsQueueActivities } from '../activities/queues.js';
import type { ParkedWorkspace, SandboxLease } from '../activities/types.js';
import { SANDBOX_GONE, SANDBOX_PARKED } from '../domain/temporal-names.js';
import type { AgentSessionInput } from './definitions.js';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;
/** Store writes and sandbox claims: about ten minutes of retries (a Postgres restart, a full pool). */
const STORE_RETRY = { ...retry, maximumAttempts: 25 } as const;
const STORE_BUDGET = '10m';
/** Tool runs on a sandbox host (each attempt has its own deadline). */
const HOST_RETRY = { ...retry, maximumAttempts: 10 } as const;
/** All attempts of one model call. */
const LLM_BUDGET = '1h';
/** Releasing the sandbox at the session's end: a few tries, then the pool's orphan check takes over. */
export const RELEASE_OPTIONS: Partial<ActivityOptions> = { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } };
/** Parking a sandbox (workflows/session-park.ts): saving a large workspace may take minutes (it heartbeats); a few tries, then it is kept. */
export const PARK_OPTIONS: Partial<ActivityOptions> = { startToCloseTimeout: '10m', retry: { ...retry, maximumAttempts: 3 } };

export interface SessionActivities {
  /** Store writes (events, messages, the session row). */
  readonly store: SessionsQueueActivities;
  /** Model calls. */
  readonly llm: SessionsQueueActivities;
  /**
   * Model calls as local activities (tuning.localModelCalls): the same budget and attempts per workflow task, no
   * heartbeat. A workflow task that fails or times out (a dead worker) runs the call again from its first attempt.
   */
  readonly llmLocal: SessionsQueueActivities;
  /** Sandbox claims, on the shared sandbox queue. */
  readonly claimer: SandboxQueueActivities;
  /** The activities of a claimed sandbox, on its host's own queue. */
  onHost(lease: SandboxLease, extra: Partial<ActivityOptions>): HostQueueActivities;
}

export function sessionActivities(input: AgentSessionInput): SessionActivities {
  const tuning = input.tuning ?? {};
  const heartbeatTimeout = tuning.heartbeatTimeoutMs ?? 30_000;
  // A model call's budget, the same whether it runs as an activity or a local one.
  const llmOptions = { startToCloseTimeout: '10m', scheduleToCloseTimeout: LLM_BUDGET, retry: { ...retry, maximumAttempts: tuning.llmMaxAttempts ?? 6 } } as const;
  return {
    store: proxyActivities<SessionsQueueActivities>({ startToCloseTimeout: '30s', scheduleToCloseTimeout: STORE_BUDGET, retry: STORE_RETRY }),
    llm: proxyActivities<SessionsQueueActivities>({ ...llmOptions, heartbeatTimeout }),
    llmLocal: proxyLocalActivities<SessionsQueueActivities>(llmOptions),
    // It heartbeats while it waits its turn in the pool (activities/sandbox-activities.ts): without a heartbeat timeout, an
    // attempt whose worker died, or whose task never reached the worker's code, held the session for the whole 2 minutes.
    claimer: proxyActivities<SandboxQueueActivities>({
      taskQueue: input.sandboxQueue,
      startToCloseTimeout: '2m',
      heartbeatTimeout,
      scheduleToCloseTimeout: STORE_BUDGET,
      retry: STORE_RETRY,
    }),
    onHost: (lease, extra) =>
      proxyActivities<HostQueueActivities>({
        taskQueue: lease.taskQueue,
        startToCloseTimeout: '2m',
        scheduleToStartTimeout: tuning.sandboxScheduleToStartMs ?? 5 * 60_000,
        heartbeatTimeout,
        retry: HOST_RETRY,
        ...extra,
      }),
  };
}

/** What an activity's failure says (its cause's message: the activity's own error). */
export function failureMessage(err: unknown): string {
  return err instanceof ActivityFailure && err.cause ? err.cause.message : (err as Error).message;
}

/** The workspace of a sandbox its host parked for a waiting claim (SANDBOX_PARKED), or undefined for any other failure. */
export function parkedBy(err: unknown): ParkedWorkspace | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const cause = err.cause;
  if (!(cause instanceof ApplicationFailure) || cause.type !== SANDBOX_PARKED) return undefined;
  const parked = cause.details?.[0] as Partial<ParkedWorkspace> | undefined;
  return typeof parked?.sha256 === 'string' && typeof parked.bytes === 'number' ? { sha256: parked.sha256, bytes: parked.bytes } : undefined;
}

/** Why the sandbox is lost, or undefined when the failure is something else. */
export function isSandboxLost(err: unknown): 'container gone' | 'host unreachable' | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type === SANDBOX_GONE) return 'container gone';
  // The host's queue had no worker for too long (the host died, before or during the call).
  return cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START' ? 'host unreachable' : undefined;
}

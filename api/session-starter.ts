/**
 * Starting a session's workflow off the request path (issue 16): POST /v1/sessions writes the start into the
 * outbox (db/session-starts.ts) in the transaction that admits the session, answers, and only then asks
 * Temporal. Under load the Temporal start was the largest and slowest stage of that request; it is now paid
 * after the answer, and a Temporal that is briefly away no longer fails the session: the start is retried.
 *
 * Who starts a workflow:
 * - the API process that took the request, at once (`kick`), holding the row's lease;
 * - a request that must reach the workflow before that start went through (a message, a cancel), which starts
 *   it itself (`ensureStarted`);
 * - any API process's sweep, for a row whose lease ran out: its process stopped, or the start failed and
 *   waits for its next try.
 * Two of them may try the same start: the workflow id is the session id, its conflict policy FAIL and its reuse
 * policy REJECT_DUPLICATE, so one run is ever started and the other try learns it was ("already started").
 * A start that has not gone through after SESSION_START_DEADLINE (and 3 tries), or that can never go through (its
 * input no longer opens, Temporal refuses it as invalid), fails the session with the reason, once Temporal says
 * it has no such workflow.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { DEFAULT_START_DEADLINE_MS } from '../config/index.js';
import type { Db } from '../db/client.js';
import { failUnstartedSession } from '../db/session-records.js';
import { deleteSessionStart, getSessionStart, insertSessionStart, recordSessionStartFailure, takeDueSessionStarts, type SessionStartRow } from '../db/session-starts.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { PayloadCodecError, type TenantPayloadCodec } from '../temporal/codec/payload-codec.js';
import { openInput, sealInput } from '../temporal/codec/sealed-input.js';
import type { agentSession } from '../workflows/agent-session.js';
import { AGENT_KEY, STATUS_KEY, TENANT_KEY, type AgentSessionInput } from '../workflows/definitions.js';
import { AGENT_VERSION_KEY } from './agent-versions.js';

/** How long a process owns a start it wrote or took before another may try it. */
export const START_LEASE_MS = 30_000;
const SWEEP_BATCH = 50;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** Past the deadline a start is given up only after this many tries. */
const MIN_TRIES_BEFORE_GIVING_UP = 3;
/** gRPC INVALID_ARGUMENT: Temporal will refuse the same request every time. */
const GRPC_INVALID_ARGUMENT = 3;

/** `none`: this try found no start left to make (another process made it or gave it up). */
export type StartOutcome = 'started' | 'retrying' | 'failed' | 'none';

/** A start as POST /v1/sessions stores it: the input, and its bytes sealed for the tenant. */
export interface PreparedStart {
  readonly input: AgentSessionInput;
  readonly sealed: Uint8Array;
}

/** Which start a try is of: `ageMs` old when read at `readAt` (this process's clock), `attempts` tries failed before. */
interface StartRef {
  readonly tenantId: string;
  readonly sessionId: string;
  readonly ageMs: number;
  readonly readAt: number;
  readonly attempts: number;
}

export interface SessionStarterDeps {
  readonly db: Db;
  readonly temporal: Client;
  readonly sessionsQueue: string;
  /** The client's codec: seals the stored input for the tenant and is told the workflow's tenant before a start. */
  readonly codec?: Pick<TenantPayloadCodec, 'encodeFor' | 'decode' | 'tenants'> | undefined;
  /** How long after the session was created a start is still tried (SESSION_START_DEADLINE). */
  readonly deadlineMs?: number | undefined;
  readonly logger?: Logger | undefined;
  readonly metrics?: Pick<Metrics, 'sessionStart' | 'sessionStartFailures'> | undefined;
  /** The call to Temporal (default: startSessionWorkflow); tests hold or fail it. */
  readonly start?: ((input: AgentSessionInput) => Promise<unknown>) | undefined;
  readonly now?: () => number;
}

/** The workflow start of a session, as the API has always made it, and never a second run under the same id. */
export function startSessionWorkflow(temporal: Client, sessionsQueue: string, input: AgentSessionInput) {
  return temporal.workflow.start<typeof agentSession>('agentSession', {
    taskQueue: sessionsQueue,
    workflowId: input.session.sessionId,
    args: [input],
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: TENANT_KEY, value: input.session.tenantId },
      { key: AGENT_KEY, value: input.agent },
      { key: STATUS_KEY, value: 'running' },
      ...(input.agentVersion ? [{ key: AGENT_VERSION_KEY, value: input.agentVersion }] : []),
    ],
  });
}

/** An error and its causes, outermost first (the client wraps gRPC errors as "Failed to start Workflow"). */
function* causes(err: unknown): Generator<unknown> {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) yield e;
}

function grpcCode(err: unknown): number | undefined {
  for (const e of causes(err)) {
    const code = typeof e === 'object' ? (e as { code?: unknown }).code : undefined;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

export class SessionStarter {
  readonly #inFlight = new Map<string, Promise<StartOutcome>>();
  readonly #start: (input: AgentSessionInput) => Promise<unknown>;
  readonly #now: () => number;
  #sweeping: Promise<number> | undefined;

  constructor(private readonly deps: SessionStarterDeps) {
    this.#start = deps.start ?? ((input) => startSessionWorkflow(deps.temporal, deps.sessionsQueue, input));
    this.#now = deps.now ?? Date.now;
  }

  /** The start as it will be stored, sealed before the admission's transaction (which holds the tenant's lock). */
  prepare(input: AgentSessionInput): PreparedStart {
    return { input, sealed: sealInput(this.deps.codec, input.session.tenantId, input) };
  }

  /** The start's row, written in the transaction that writes the session row; this process holds its lease. */
  async enqueue(trx: Db, start: PreparedStart): Promise<void> {
    const { tenantId, sessionId } = start.input.session;
    await insertSessionStart(trx, { sessionId, tenantId, input: start.sealed, leaseMs: START_LEASE_MS });
  }

  /** After the row committed: starts the workflow now, without the caller waiting. */
  kick(start: PreparedStart): void {
    const { tenantId, sessionId } = start.input.session;
    void this.#attempt({ tenantId, sessionId, ageMs: 0, readAt: this.#now(), attempts: 0 }, async () => start.input);
  }

  /**
   * For a request that found no workflow: `started` when the session had a start still to make and the workflow
   * now exists (made now, or awaited when under way here); `retrying` when Temporal did not take it yet; `none`
   * when there was no start to make (the workflow ended, or its start failed for good).
   */
  async ensureStarted(tenantId: string, sessionId: string): Promise<StartOutcome> {
    const pending = this.#inFlight.get(sessionId);
    if (pending) return pending;
    const row = await getSessionStart(this.deps.db, tenantId, sessionId);
    if (!row) return 'none';
    // A start that failed waits out its backoff: requests to the session do not hammer a Temporal that is away.
    if (row.attempts > 0 && !row.due) return 'retrying';
    return this.#attempt(this.#ref(row), () => openInput<AgentSessionInput>(this.deps.codec, row.input));
  }

  /** Starts those whose lease ran out (their process stopped, or a failed try waits for its next). */
  async sweep(): Promise<number> {
    if (this.#sweeping) return this.#sweeping;
    this.#sweeping = (async () => {
      const due = await takeDueSessionStarts(this.deps.db, SWEEP_BATCH, START_LEASE_MS);
      await Promise.all(due.map((row) => this.#attempt(this.#ref(row), () => openInput<AgentSessionInput>(this.deps.codec, row.input))));
      return due.length;
    })().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Sweeps every `intervalMs` (and once now); the returned function stops it. */
  sweepEvery(intervalMs: number): () => void {
    const run = () =>
      void this.sweep().catch((err: unknown) => this.deps.logger?.warn('session start sweep failed', { err }));
    run();
    const timer = setInterval(run, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The starts this process has under way (at shutdown: let them finish; what does not is swept elsewhere). */
  async drain(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled([...this.#inFlight.values(), ...(this.#sweeping ? [this.#sweeping] : [])]), bound]);
    clearTimeout(timer);
  }

  #ref(row: SessionStartRow): StartRef {
    return { tenantId: row.tenantId, sessionId: row.sessionId, ageMs: row.ageMs, readAt: this.#now(), attempts: row.attempts };
  }

  /** How old the start is now: its age when read (Postgres's clock) plus what passed here since. */
  #elapsed(start: StartRef): number {
    return start.ageMs + Math.max(0, this.#now() - start.readAt);
  }

  #attempt(start: StartRef, input: () => Promise<AgentSessionInput>): Promise<StartOutcome> {
    const existing = this.#inFlight.get(start.sessionId);
    if (existing) return existing;
    const attempt = this.#try(start, input).finally(() => this.#inFlight.delete(start.sessionId));
    this.#inFlight.set(start.sessionId, attempt);
    return attempt;
  }

  async #try(start: StartRef, input: () => Promise<AgentSessionInput>): Promise<StartOutcome> {
    const { tenantId, sessionId } = start;
    let opened: AgentSessionInput;
    try {
      opened = await input();
      if (opened.session.sessionId !== sessionId || opened.session.tenantId !== tenantId) {
        throw new PayloadCodecError(`the stored start is not session ${sessionId}'s`, 'wrong_tenant');
      }
    } catch (err) {
      // Bytes that do not open (tampered, malformed, another's) never will; a key not loaded yet may be soon.
      const permanent = !(err instanceof PayloadCodecError) || err.code !== 'unknown_key';
      return this.#failed(start, err, permanent);
    }
    let startedHere = true;
    try {
      // The codec encrypts the input for the workflow's tenant: told here, it does not look the row up again.
      this.deps.codec?.tenants.remember(sessionId, tenantId);
      await this.#start(opened);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) return this.#failed(start, err, grpcCode(err) === GRPC_INVALID_ARGUMENT);
      startedHere = false;
    }
    // Once per session: a try that learns another made the start does not count it again.
    if (startedHere) this.deps.metrics?.sessionStart.observe(this.#elapsed(start) / 1000);
    await this.#done(start);
    return 'started';
  }

  async #done(start: StartRef): Promise<void> {
    try {
      await deleteSessionStart(this.deps.db, start.tenantId, start.sessionId);
    } catch (err) {
      // The workflow runs; a row left behind is taken by a sweep, whose start learns it is already started.
      this.deps.logger?.warn('session start row not deleted', { sessionId: start.sessionId, err });
    }
  }

  /** Whether Temporal has the workflow: undefined when it cannot say (it is away). */
  async #exists(sessionId: string): Promise<boolean | undefined> {
    try {
      await this.deps.temporal.workflow.getHandle(sessionId).describe();
      return true;
    } catch (err) {
      return err instanceof WorkflowNotFoundError ? false : undefined;
    }
  }

  async #failed(start: StartRef, err: unknown, permanent: boolean): Promise<StartOutcome> {
    const { db, logger, metrics } = this.deps;
    const { tenantId, sessionId } = start;
    const message = errorText(err);
    const deadlineMs = this.deps.deadlineMs ?? DEFAULT_START_DEADLINE_MS;
    // Late: past the deadline, and tried often enough that one blip (or an API down past it) does not decide.
    const late = this.#elapsed(start) >= deadlineMs && start.attempts + 1 >= MIN_TRIES_BEFORE_GIVING_UP;
    try {
      if (permanent || late) {
        // A try that failed may still have started it (an answer lost on the way), or another process did.
        const exists = await this.#exists(sessionId);
        if (exists) {
          await this.#done(start);
          return 'started';
        }
        // Given up only once Temporal says it has no such workflow; while it cannot say, the start is retried
        // (SessionStartsStuck pages) rather than a session failed that may run.
        if (exists === false) {
          const why = permanent ? message : `Temporal did not accept its start within ${Math.round(deadlineMs / 1000)} s (${start.attempts + 1} tries): ${message}`;
          // Only if its row is still there to take: another process may have started it or given it up meanwhile.
          const ended = await failUnstartedSession(db, tenantId, sessionId, `could not start: ${why}`, (trx) => deleteSessionStart(trx, tenantId, sessionId));
          if (!ended) return 'none';
          metrics?.sessionStartFailures.inc({ outcome: 'given_up' });
          logger?.error('session could not be started; it fails', { sessionId, tenantId, err: message, permanent });
          return 'failed';
        }
      }
      await recordSessionStartFailure(db, tenantId, sessionId, message, { minMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS });
      metrics?.sessionStartFailures.inc({ outcome: 'retry' });
      logger?.warn('session start failed; it is retried', { sessionId, tenantId, err: message });
    } catch (recordErr) {
      // The lease runs out and a sweep tries again.
      logger?.warn('session start failure not recorded', { sessionId, err: recordErr });
    }
    return 'retrying';
  }
}

/** The message with its causes': the reason of a wrapped gRPC error is in the cause. */
function errorText(err: unknown): string {
  const parts: string[] = [];
  for (const e of causes(err)) {
    const text = e instanceof Error ? e.message : String(e);
    if (text && !parts.includes(text)) parts.push(text);
  }
  return parts.join(': ') || 'unknown error';
}

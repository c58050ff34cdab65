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
 * A start that has not gone through after SESSION_START_DEADLINE, or that can never go through (its input no
 * longer opens, Temporal refuses it as invalid), fails the session with the reason.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { DEFAULT_START_DEADLINE_MS } from '../config/index.js';
import type { Db } from '../db/client.js';
import { failUnstartedSession } from '../db/session-records.js';
import { deleteSessionStart, getSessionStart, insertSessionStart, recordSessionStartFailure, takeDueSessionStarts } from '../db/session-starts.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { TenantPayloadCodec } from '../temporal/codec/payload-codec.js';
import { openInput, sealInput } from '../temporal/codec/sealed-input.js';
import type { agentSession } from '../workflows/agent-session.js';
import { AGENT_KEY, STATUS_KEY, TENANT_KEY, type AgentSessionInput } from '../workflows/definitions.js';
import { AGENT_VERSION_KEY } from './agent-versions.js';

/** How long a process owns a start it wrote or took before another may try it. */
export const START_LEASE_MS = 30_000;
const SWEEP_BATCH = 50;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** gRPC INVALID_ARGUMENT: Temporal will refuse the same request every time. */
const GRPC_INVALID_ARGUMENT = 3;

export type StartOutcome = 'started' | 'retrying' | 'failed';

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

function grpcCode(err: unknown): number | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
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

  /** The start's row, written in the transaction that writes the session row; this process holds its lease. */
  async enqueue(trx: Db, input: AgentSessionInput): Promise<void> {
    const { tenantId, sessionId } = input.session;
    await insertSessionStart(trx, {
      sessionId,
      tenantId,
      input: sealInput(this.deps.codec, tenantId, input),
      leaseUntil: new Date(this.#now() + START_LEASE_MS),
    });
  }

  /** After the row committed: starts the workflow now, without the caller waiting. */
  kick(input: AgentSessionInput): void {
    const { tenantId, sessionId, createdAt } = input.session;
    void this.#attempt(tenantId, sessionId, new Date(createdAt), async () => input);
  }

  /**
   * For a request that found no workflow: `started` when the session had a start still to make and the workflow
   * now exists (made now, or awaited when under way here); `retrying` when Temporal did not take it yet; `none`
   * when there was no start to make (the workflow ended, or its start failed for good).
   */
  async ensureStarted(tenantId: string, sessionId: string): Promise<StartOutcome | 'none'> {
    const pending = this.#inFlight.get(sessionId);
    if (pending) return pending;
    const row = await getSessionStart(this.deps.db, tenantId, sessionId);
    if (!row) return 'none';
    return this.#attempt(tenantId, sessionId, row.createdAt, () => openInput<AgentSessionInput>(this.deps.codec, row.input));
  }

  /** Starts those whose lease ran out (their process stopped, or a failed try waits for its next). */
  async sweep(): Promise<number> {
    if (this.#sweeping) return this.#sweeping;
    this.#sweeping = (async () => {
      const due = await takeDueSessionStarts(this.deps.db, SWEEP_BATCH, new Date(this.#now() + START_LEASE_MS));
      const outcomes = await Promise.all(
        due.map((row) =>
          this.#inFlight.get(row.sessionId) ??
          this.#attempt(row.tenantId, row.sessionId, row.createdAt, () => openInput<AgentSessionInput>(this.deps.codec, row.input)),
        ),
      );
      return outcomes.length;
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
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inFlight.values(), ...(this.#sweeping ? [this.#sweeping] : [])]);
  }

  #attempt(tenantId: string, sessionId: string, createdAt: Date, input: () => Promise<AgentSessionInput>): Promise<StartOutcome> {
    const existing = this.#inFlight.get(sessionId);
    if (existing) return existing;
    const attempt = this.#try(tenantId, sessionId, createdAt, input).finally(() => this.#inFlight.delete(sessionId));
    this.#inFlight.set(sessionId, attempt);
    return attempt;
  }

  async #try(tenantId: string, sessionId: string, createdAt: Date, input: () => Promise<AgentSessionInput>): Promise<StartOutcome> {
    const { db, logger, metrics } = this.deps;
    let opened: AgentSessionInput;
    try {
      opened = await input();
      if (opened.session.sessionId !== sessionId || opened.session.tenantId !== tenantId) {
        throw new Error(`the stored start is not session ${sessionId}'s`);
      }
    } catch (err) {
      // The stored bytes do not open (tampered, a key removed since): they will not open on a next try either.
      return this.#failed(tenantId, sessionId, createdAt, err, true);
    }
    try {
      // The codec encrypts the input for the workflow's tenant: told here, it does not look the row up again.
      this.deps.codec?.tenants.remember(sessionId, tenantId);
      await this.#start(opened);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) return this.#failed(tenantId, sessionId, createdAt, err, false);
    }
    metrics?.sessionStart.observe(Math.max(0, this.#now() - createdAt.getTime()) / 1000);
    try {
      await deleteSessionStart(db, tenantId, sessionId);
    } catch (err) {
      // The workflow runs; a row left behind is taken by a sweep, whose start learns it is already started.
      logger?.warn('session start row not deleted', { sessionId, err });
    }
    return 'started';
  }

  async #failed(tenantId: string, sessionId: string, createdAt: Date, err: unknown, unreadable: boolean): Promise<StartOutcome> {
    const { db, logger, metrics } = this.deps;
    const message = err instanceof Error ? err.message : String(err);
    const permanent = unreadable || grpcCode(err) === GRPC_INVALID_ARGUMENT;
    const deadlineMs = this.deps.deadlineMs ?? DEFAULT_START_DEADLINE_MS;
    const late = this.#now() - createdAt.getTime() >= deadlineMs;
    try {
      if (permanent || late) {
        metrics?.sessionStartFailures.inc({ outcome: 'given_up' });
        logger?.error('session could not be started; it fails', { sessionId, tenantId, err: message, permanent });
        const why = permanent ? message : `Temporal did not accept its start within ${Math.round(deadlineMs / 1000)} s: ${message}`;
        await failUnstartedSession(db, tenantId, sessionId, `could not start: ${why}`);
        await deleteSessionStart(db, tenantId, sessionId);
        return 'failed';
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

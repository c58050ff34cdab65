/**
 * The `agentSession` workflow on a real Temporal dev server with every activity mocked: no Postgres, no
 * Docker, no model. Three workers, as production registers them (temporal/build-worker.ts createWorkers): the sessions queue
 * (the workflow, store, model, Slack and vote activities), the shared sandbox queue (claims) and one
 * sandbox host's own queue (exec and release), whose name the claim returns. Each mock records its call,
 * so a test reads what the workflow asked for, in order.
 *
 * Why not `TestWorkflowEnvironment.createTimeSkipping`: it needs Temporal's test server
 * (`temporal-test-server`, a native build of the Java SDK's), which the SDK downloads at run time from
 * Temporal's site and no package registry this project installs from carries; the CLI's dev server has
 * no time-skipping service. The dev server runs in real time, so the timers stay short (1 s gates).
 */
import { resolve } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { LlmStepInput, LlmStepResult, ModelToolCall, ToolOutcome } from '../../activities/types.js';
import type { HostQueueActivities, SandboxQueueActivities, SessionsQueueActivities } from '../../activities/queues.js';
import { createVoteActivities } from '../../activities/vote-proof.js';
import { REPO_ROOT } from '../../config/index.js';
import { SANDBOX_PARKED } from '../../domain/temporal-names.js';
import { snapshotPolicy } from '../../policies/load.js';
import { policySchema } from '../../policies/schema.js';
import { provision } from '../../scripts/lib/provision.js';
import { loadWorkflowBundle, workerInterceptors, workerSinks } from '../../temporal/worker-options.js';
import { AGENT_KEY, STATUS_KEY, TENANT_KEY, type AgentSessionInput, type SessionTuning } from '../../workflows/definitions.js';

export const SESSIONS_QUEUE = 'wf-test-sessions';
export const SANDBOX_QUEUE = 'wf-test-sandbox';
export const HOST_ID = 'host-a';
/** What the mock claim answers with: the host's own queue, where exec and release must then go. */
export const HOST_QUEUE = `wf-test-sandbox@${HOST_ID}`;
/** The worker's vote key (the API signs with it, activities/vote-proof.ts). */
export const VOTE_KEY = 'workflow-test-vote-key';

/** One activity call as the mock saw it. */
export interface Call {
  readonly name: string;
  readonly sessionId: string;
  /** The workflow run that asked for it (continue-as-new starts another run). */
  readonly runId: string;
  readonly taskQueue: string;
  readonly input: Record<string, unknown>;
}

/** How the model answers each step of one session. */
export type Script = (input: LlmStepInput) => LlmStepResult | Promise<LlmStepResult>;

export function answer(content: string): LlmStepResult {
  return { content, toolCalls: [], model: 'mock', provider: 'mock', inputTokens: 10, outputTokens: 5, costUsd: 0.001 };
}

export function shell(id: string, command: string): LlmStepResult {
  const call: ModelToolCall = { id, name: 'shell', arguments: JSON.stringify({ command }) };
  return { ...answer(''), content: null, toolCalls: [call] };
}

/**
 * The policy every test runs under: anything not named is allowed; `rm` waits for two approvers (posted
 * to Slack); `curl` for one, 1 s, then denied; `dd` for one, 1 s, then the session fails.
 */
export const POLICY = snapshotPolicy(
  policySchema.parse({
    name: 'workflow-tests',
    default: 'allow',
    approval: { approvers: 2, timeout: '10m' },
    rules: [
      { id: 'rm-needs-two', tool: 'shell', match: { command: '\\brm\\b' }, action: 'approve', risk: 'high', approval: { slack: { channel: '#approvals' } } },
      { id: 'curl-or-deny', tool: 'shell', match: { command: '\\bcurl\\b' }, action: 'approve', approval: { approvers: 1, timeout: '1s', onTimeout: 'deny' } },
      { id: 'dd-or-fail', tool: 'shell', match: { command: '\\bdd\\b' }, action: 'approve', approval: { approvers: 1, timeout: '1s', onTimeout: 'fail' } },
    ],
  }),
);

/** Shell commands starting with this run until cancelled (heartbeating), to cancel a session mid-tool. */
export const BLOCKING_COMMAND = 'sleep';
/** Shell commands starting with this find their sandbox parked for a waiting claim at every run (execTool fails SANDBOX_PARKED). */
export const ALWAYS_PARKED_COMMAND = 'moved';
/** Sessions whose id starts with this have a process running in their sandbox: the mock host does not park it. */
export const KEEP_PREFIX = 'keep-';
/** What the mock host says it saved a parked workspace as. */
export const PARKED_SHA = 'a'.repeat(64);
/** Shell commands starting with this fail for good on the host (a non-retryable failure of execTool). */
export const FAILING_COMMAND = 'false';

export class Harness {
  readonly calls: Call[] = [];
  /** The spans workflows exported through the workers' sink, as a worker with tracing on gets them. */
  readonly spans = new InMemorySpanExporter();
  readonly #scripts = new Map<string, Script>();
  #runs: Promise<void> | undefined;
  #workers: Worker[] = [];

  private constructor(readonly env: TestWorkflowEnvironment) {}

  get client(): Client {
    return this.env.client;
  }

  static async start(): Promise<Harness> {
    // The SDK's own logs at warn level only (as test/support/stack.ts): the run's output stays readable.
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      // already installed in this process
    }
    // The CLI as `make test` provisions it (found, or built once and cached).
    const { TEMPORAL_CLI } = await provision('temporal', [], { ...process.env, TEMPORAL_ADDRESS: '' });
    if (!TEMPORAL_CLI) throw new Error('no Temporal CLI: scripts/provision/temporal.sh gave none');
    const [env, bundle] = await Promise.all([
      TestWorkflowEnvironment.createLocal({
        server: { executable: { type: 'existing-path', path: TEMPORAL_CLI }, searchAttributes: [TENANT_KEY, AGENT_KEY, STATUS_KEY] },
      }),
      // The production bundle (its webpack settings and workflow interceptors), as replay uses it; webpack's
      // cache beside the other tools' in node_modules/.cache makes the bundle of unchanged code quick.
      loadWorkflowBundle({ cacheDirectory: resolve(REPO_ROOT, 'node_modules/.cache/kortix-workflow-bundle') }),
    ]);
    const harness = new Harness(env);
    await harness.#startWorkers(bundle);
    return harness;
  }

  /** The model's answers for a session, by step. */
  script(sessionId: string, script: Script): void {
    this.#scripts.set(sessionId, script);
  }

  callsOf(sessionId: string, name?: string): Call[] {
    return this.calls.filter((c) => c.sessionId === sessionId && (name === undefined || c.name === name));
  }

  /**
   * Every event the workflow wrote for a session, in write order: the outbox's (recordEvents) and the step
   * decisions its tool activities carry (execTool, recordToolResult).
   */
  eventsOf(sessionId: string): { key: string; type: string; data: Record<string, unknown> }[] {
    type Ev = { key: string; type: string; data: Record<string, unknown> };
    return this.callsOf(sessionId).flatMap((c) =>
      c.name === 'recordEvents' ? (c.input.events as Ev[]) : c.name === 'execTool' || c.name === 'recordToolResult' ? ((c.input.decisions as Ev[] | undefined) ?? []) : [],
    );
  }

  input(sessionId: string, tuning: SessionTuning = {}): AgentSessionInput {
    return {
      session: { tenantId: 'acme', sessionId, createdAt: new Date().toISOString() },
      agent: 'default',
      requester: 'alice',
      policy: POLICY,
      metadata: {},
      systemPrompt: 'You are a test agent.',
      message: 'do the thing',
      sandboxQueue: SANDBOX_QUEUE,
      // Short, so that a dead mock shows at once; the throttle below keeps cancellations quick.
      tuning: { heartbeatTimeoutMs: 5_000, ...tuning },
    };
  }

  async close(): Promise<void> {
    for (const w of this.#workers) if (w.getState() === 'RUNNING') w.shutdown();
    await this.#runs;
    await this.env.teardown();
  }

  #record(name: string, input: unknown): void {
    const info = Context.current().info;
    const record = input as Record<string, unknown> & { session?: { sessionId?: string }; sessionId?: string };
    this.calls.push({
      name,
      sessionId: record.session?.sessionId ?? record.sessionId ?? '?',
      runId: info.workflowExecution?.runId ?? '?',
      taskQueue: info.taskQueue,
      input: record,
    });
  }

  async #startWorkers(bundle: { code: string }): Promise<void> {
    const rec = <I, O>(name: string, body: (input: I) => O | Promise<O>) =>
      async (input: I): Promise<O> => {
        this.#record(name, input);
        return body(input);
      };
    const votes = createVoteActivities({ key: VOTE_KEY });
    const sessions: Pick<
      SessionsQueueActivities,
      'startSession' | 'llmStep' | 'appendUserMessages' | 'recordEvents' | 'recordToolResult' | 'finishSession' | 'finishSessionRow' | 'postGateMessage' | 'updateGateMessage' | 'verifyVote'
    > = {
      startSession: rec('startSession', () => ({ nextMessageSeq: 2 })),
      llmStep: rec('llmStep', (input: LlmStepInput) => {
        const script = this.#scripts.get(input.session.sessionId);
        if (!script) throw new Error(`no script for ${input.session.sessionId}`);
        return script(input);
      }),
      appendUserMessages: rec('appendUserMessages', () => undefined),
      recordEvents: rec('recordEvents', () => undefined),
      recordToolResult: rec('recordToolResult', () => undefined),
      finishSession: rec('finishSession', () => undefined),
      finishSessionRow: rec('finishSessionRow', () => undefined),
      postGateMessage: rec('postGateMessage', () => ({ channel: 'C0APPROVALS', ts: '1700000000.000100' })),
      updateGateMessage: rec('updateGateMessage', () => undefined),
      // The real check, with the test key: a forged vote is refused by the workflow, not by the mock.
      verifyVote: rec('verifyVote', votes.verifyVote),
    };
    const sandbox: SandboxQueueActivities = {
      claimSandbox: rec('claimSandbox', (input: { session: { sessionId: string } }) => ({
        containerId: `ctr-${input.session.sessionId}`,
        hostId: HOST_ID,
        taskQueue: HOST_QUEUE,
        created: true,
        replacedStopped: false,
        source: 'cold' as const,
        waited: false,
      })),
    };
    const host: HostQueueActivities = {
      execTool: rec('execTool', async (input: Parameters<HostQueueActivities['execTool']>[0]): Promise<ToolOutcome> => {
        if (input.call.name === 'shell' && input.call.args.command.startsWith(BLOCKING_COMMAND)) await this.#untilCancelled(input.session.sessionId);
        // The host parked the sandbox for a waiting claim before every run: the call moves again and again.
        if (input.call.name === 'shell' && input.call.args.command.startsWith(ALWAYS_PARKED_COMMAND)) {
          throw ApplicationFailure.create({ type: SANDBOX_PARKED, message: 'the sandbox was parked for a waiting claim', nonRetryable: true, details: [{ sha256: PARKED_SHA, bytes: 10_240 }] });
        }
        if (input.call.name === 'shell' && input.call.args.command.startsWith(FAILING_COMMAND)) {
          throw ApplicationFailure.create({ type: 'TestHostFailure', message: 'the host refused the run', nonRetryable: true });
        }
        return { ok: true, exitCode: 0, outputBytes: 3 };
      }),
      releaseSandbox: rec('releaseSandbox', () => ({ removed: 1 })),
      // Sessions named keep-… have a process running in their sandbox: the host keeps it.
      parkSandbox: rec('parkSandbox', (input: { session: { sessionId: string } }) =>
        input.session.sessionId.startsWith(KEEP_PREFIX)
          ? { parked: false as const, reason: '1 process(es) it started still run: node server.js' }
          : { parked: true as const, sha256: PARKED_SHA, bytes: 10_240 },
      ),
    };
    const common = {
      connection: this.env.nativeConnection,
      namespace: this.env.namespace ?? 'default',
      interceptors: workerInterceptors(),
      sinks: workerSinks({ spanProcessor: new SimpleSpanProcessor(this.spans), resource: Resource.empty() }),
      // A cancellation reaches a running activity with its next heartbeat's answer: no need to wait 4 s for it.
      maxHeartbeatThrottleInterval: '100ms',
      defaultHeartbeatThrottleInterval: '100ms',
      shutdownGraceTime: '1s',
    };
    this.#workers = [
      await Worker.create({ ...common, taskQueue: SESSIONS_QUEUE, workflowBundle: bundle, activities: sessions }),
      await Worker.create({ ...common, taskQueue: SANDBOX_QUEUE, activities: sandbox }),
      await Worker.create({ ...common, taskQueue: HOST_QUEUE, activities: host }),
    ];
    this.#runs = Promise.all(this.#workers.map((w) => w.run())).then(() => undefined);
  }

  /** A tool run that lasts until Temporal cancels it; the cancellation is recorded as a call. */
  async #untilCancelled(sessionId: string): Promise<never> {
    const ctx = Context.current();
    try {
      for (;;) {
        ctx.heartbeat();
        await ctx.sleep(50);
      }
    } catch (err) {
      this.calls.push({ name: 'execTool:cancelled', sessionId, runId: ctx.info.workflowExecution?.runId ?? '?', taskQueue: ctx.info.taskQueue, input: {} });
      throw err;
    }
  }
}

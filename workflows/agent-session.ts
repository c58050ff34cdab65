/**
 * `agentSession`: one agent session, one workflow. The loop asks the model,
 * judges each tool call against the pinned policy, waits on approval gates,
 * runs allowed tools in the session's sandbox and feeds results back, until a
 * final answer, a limit, a cancel or a fatal error. The sandbox is released in
 * every case. Deterministic: side effects happen only in activities.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { HostQueueActivities, SandboxQueueActivities, SessionsQueueActivities } from '../activities/queues.js';
import type { SandboxLease, SessionStatus, SessionUsage, ToolResultPayload } from '../activities/types.js';
import { gateRecord, type Gate } from '../domain/gate.js';
import { mountableSecrets } from '../domain/secret-binding.js';
import { BROWSER_TOOL } from '../policies/browser-url.js';
import { evaluatePolicy, offeredTools, secretMountDecision, type Decision, type PolicyContext } from '../policies/evaluate.js';
import { REQUEST_NETWORK, parseToolCall, type ValidToolCall } from '../sandbox/tools.js';
import {
  STATUS_KEY,
  cancelSignal,
  stateQuery,
  userMessageSignal,
  type AgentSessionInput,
  type ApprovalVote,
  type CancelRequest,
  type SessionResult,
  type SessionStateView,
  type UserMessage,
} from './definitions.js';
import { workflowIso } from './clock.js';
import { applyVote, gateView } from './gates.js';
import { GateSlackSync } from './gate-slack.js';
import { EventOutbox } from './outbox.js';
import { installVoteHandlers } from './vote-intake.js';

/** Must equal activities/sandbox-activities.ts SANDBOX_GONE (not imported: workflows import activity types only). */
const SANDBOX_GONE = 'SandboxGone';
const DEFAULT_CONTINUE_AS_NEW_AFTER = 10_000;
/** Sessions with secrets hand them to the sandbox activities; none recorded before had any. */
export const SESSION_SECRETS_PATCH = 'session-secrets';
/** Browser calls are judged with the page the model last saw; sessions recorded before had no browser. */
export const BROWSER_PAGE_PATCH = 'browser-page-url';
/**
 * A shell call may ask for secrets to be mounted for it alone (`mount_secrets`): it then waits on a gate
 * and its run gets the mounts. Calls recorded before ignored the argument (the parser dropped it).
 */
export const SECRET_MOUNT_PATCH = 'secret-mount-once';
/**
 * The tool activity writes its own events (sandbox.claimed, tool.started, tool.result) while the outbox
 * writes the workflow's in the background: a slow outbox write (a retry, a busy worker) let the tool's
 * events overtake approval.resolved in the stream. The outbox is drained before the tool runs; sessions
 * recorded before ran the tool at once.
 */
export const EVENTS_BEFORE_TOOL_PATCH = 'events-before-tool';
/**
 * A session ends after its gates' Slack messages show their last state, waiting at most SLACK_SETTLE_WAIT
 * (a Slack outage must not hold the session's end for the notifier's whole retry budget); sessions
 * recorded before ended at once.
 */
export const SLACK_SETTLED_BEFORE_END_PATCH = 'slack-settled-before-end';
const SLACK_SETTLE_WAIT = '10s';

/*
 * Every activity has a bounded retry budget. Retries heal a lost connection or
 * a restarting service; errors no retry can heal (bad data, a violated
 * constraint, invalid input) are non-retryable where they happen
 * (activities/permanent-errors.ts), so the session fails at once saying why.
 * Retry options are not compared on replay: recorded histories still replay.
 */
const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;
/** Store writes and sandbox claims: about ten minutes of retries (a Postgres restart, a full pool). */
const STORE_RETRY = { ...retry, maximumAttempts: 25 } as const;
const STORE_BUDGET = '10m';
/** Tool runs on a sandbox host (each attempt has its own deadline). */
const HOST_RETRY = { ...retry, maximumAttempts: 10 } as const;
/** All attempts of one model call. */
const LLM_BUDGET = '1h';

/** What an activity's failure says (its cause's message: the activity's own error). */
function failureMessage(err: unknown): string {
  return err instanceof ActivityFailure && err.cause ? err.cause.message : (err as Error).message;
}

interface PlannedCall {
  readonly id: string;
  readonly name: string;
  readonly seq: number;
  readonly call?: ValidToolCall;
  readonly invalid?: string;
  readonly decision?: Decision;
  /** Secrets the call mounts (shell `mount_secrets`), with their files: only ever run after its gate is approved. */
  readonly mounts?: readonly { name: string; path: string }[];
  gate?: Gate;
}

interface Ending {
  readonly status: SessionStatus;
  readonly finalAnswer?: string | null;
  readonly error?: string | null;
}

export async function agentSession(input: AgentSessionInput): Promise<SessionResult> {
  const { session, policy: snapshot } = input;
  const policy = snapshot.policy;
  const tuning = input.tuning ?? {};
  const heartbeatTimeout = tuning.heartbeatTimeoutMs ?? 30_000;
  const carry = input.carry;

  const store = proxyActivities<SessionsQueueActivities>({ startToCloseTimeout: '30s', scheduleToCloseTimeout: STORE_BUDGET, retry: STORE_RETRY });
  const llm = proxyActivities<SessionsQueueActivities>({
    startToCloseTimeout: '10m',
    scheduleToCloseTimeout: LLM_BUDGET,
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: tuning.llmMaxAttempts ?? 6 },
  });
  const claimer = proxyActivities<SandboxQueueActivities>({
    taskQueue: input.sandboxQueue,
    startToCloseTimeout: '2m',
    scheduleToCloseTimeout: STORE_BUDGET,
    retry: STORE_RETRY,
  });
  const onHost = (lease: SandboxLease, extra: Partial<ActivityOptions>) =>
    proxyActivities<HostQueueActivities>({
      taskQueue: lease.taskQueue,
      startToCloseTimeout: '2m',
      scheduleToStartTimeout: tuning.sandboxScheduleToStartMs ?? 5 * 60_000,
      heartbeatTimeout,
      retry: HOST_RETRY,
      ...extra,
    });

  // ---- state (carried across continue-as-new) ----
  let step = carry?.step ?? 0;
  let nextMessageSeq = carry?.nextMessageSeq ?? 2;
  const usage: SessionUsage = carry ? { ...carry.usage } : { inputTokens: 0, outputTokens: 0, costUsd: 0, llmCalls: 0, toolCalls: 0 };
  let lease: SandboxLease | null = carry?.lease ?? null;
  const pendingMessages: UserMessage[] = [...(carry?.pendingMessages ?? [])];
  const seenMessageIds = new Set(carry?.seenMessageIds ?? []);
  let lastAnswer: string | null = carry?.lastAnswer ?? null;
  /** The browser's page, from the last browser result: browser rules judge clicks and typing on its host. */
  let pageUrl: string | undefined = carry?.pageUrl;
  const browserContext = (name: string): PolicyContext => (name === BROWSER_TOOL && patched(BROWSER_PAGE_PATCH) ? { pageUrl } : {});
  const run = (carry?.run ?? 0) + 1;
  /** The secrets for the sandbox activities (claim: checked and bound; exec: masked in output), when the session has any. */
  const secretsFor = (): { secrets?: NonNullable<AgentSessionInput['secrets']> } =>
    input.secrets && input.secrets.length > 0 && patched(SESSION_SECRETS_PATCH) ? { secrets: input.secrets } : {};
  let status: SessionStatus = 'running';
  let cancelRequest: CancelRequest | null = null;
  const gates = new Map<string, Gate>();
  /** Why an event write failed for good (refused, or its retries spent): the session then ends, failed, saying so. */
  let writeFailure: string | null = null;
  const outbox = new EventOutbox(session, carry?.eventCounter ?? 0, store.recordEvents, (err) => {
    writeFailure ??= failureMessage(err);
    loopScope?.cancel();
  });
  const slackSync = new GateSlackSync(session, outbox);

  function setStatus(next: SessionStatus): void {
    if (status === next) return;
    status = next;
    upsertSearchAttributes([{ key: STATUS_KEY, value: next }]);
    outbox.patch({ status: next });
  }

  function view(): SessionStateView {
    return {
      sessionId: session.sessionId,
      status,
      step,
      usage: { ...usage },
      pendingApprovals: [...gates.values()].filter((g) => g.status === 'open').map(gateView),
      sandbox: lease ? { containerId: lease.containerId, hostId: lease.hostId } : null,
      run,
      finalAnswer: status === 'completed' ? lastAnswer : null,
    };
  }

  /** A gate just closed (approved, rejected, timed out, cancelled): say so everywhere. */
  function resolved(gate: Gate): void {
    outbox.push(
      'approval.resolved',
      { gateId: gate.id, outcome: gate.status, approvers: gate.approvals.map((a) => a.approver), rejectedBy: gate.rejectedBy ?? null },
      { gate: gateRecord(gate) },
    );
    slackSync.changed(gate);
  }

  function takeVote(vote: ApprovalVote) {
    const gate = gates.get(vote.gateId);
    if (!gate) return undefined;
    const { counted, closed } = applyVote(gate, vote, workflowIso());
    outbox.push(
      'approval.vote',
      {
        gateId: gate.id,
        approver: vote.approver,
        roles: vote.roles ?? [],
        decision: vote.decision,
        channel: vote.channel,
        counted,
        approvals: gate.approvals.length,
        required: gate.required,
        ...(vote.comment ? { comment: vote.comment } : {}),
      },
      {
        gate: gateRecord(gate),
        approval: {
          gateId: gate.id,
          approver: vote.approver,
          roles: vote.roles ?? [],
          channel: vote.channel,
          decision: vote.decision,
          outcome: counted ? (closed ? 'closed-the-gate' : 'counted') : 'duplicate',
          comment: vote.comment,
        },
      },
    );
    if (closed) resolved(gate);
    else slackSync.changed(gate);
    return { gate: gateView(gate), counted };
  }

  // ---- handlers ----
  let loopScope: CancellationScope | undefined;
  setHandler(stateQuery, view);
  setHandler(userMessageSignal, (message) => {
    if (message.id !== undefined) {
      if (seenMessageIds.has(message.id)) return;
      seenMessageIds.add(message.id);
    }
    pendingMessages.push(message);
  });
  installVoteHandlers({
    sessionId: session.sessionId,
    gates,
    take: takeVote,
    refused(vote, code) {
      const approval = { gateId: vote.gateId, approver: vote.approver, roles: vote.roles ?? [], channel: vote.channel, decision: vote.decision };
      outbox.push('approval.refused', { ...approval, code }, { approval: { ...approval, outcome: `refused:${code}`, comment: vote.comment } });
    },
  });
  setHandler(cancelSignal, (request) => {
    if (cancelRequest) return;
    cancelRequest = request;
    loopScope?.cancel();
  });

  // ---- sandbox ----
  /** The session's sandbox, claimed when it has none; `claimed` says how, for the next tool call to record. */
  async function ensureSandbox(): Promise<{ lease: SandboxLease; claimed?: Parameters<HostQueueActivities['execTool']>[0]['claimed'] }> {
    if (lease) return { lease };
    const network = policy.network.allow;
    // Hosts to approve put the sandbox on the egress network too; without any (older snapshots) the input is as it was.
    const approve = policy.network.approve ?? [];
    const claimed = await claimer.claimSandbox({ session, network, ...(approve.length > 0 ? { approve } : {}), ...secretsFor() });
    lease = { containerId: claimed.containerId, hostId: claimed.hostId, taskQueue: claimed.taskQueue };
    return { lease, claimed: { created: claimed.created, replacedStopped: claimed.replacedStopped, source: claimed.source, network } };
  }

  /** Why the sandbox is lost, or undefined when the failure is something else. */
  function isSandboxLost(err: unknown): 'container gone' | 'host unreachable' | undefined {
    if (!(err instanceof ActivityFailure)) return undefined;
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type === SANDBOX_GONE) return 'container gone';
    // The host's queue had no worker for too long (the host died, before or during the call).
    return cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START' ? 'host unreachable' : undefined;
  }

  async function execTool(planned: PlannedCall, call: ValidToolCall): Promise<void> {
    const timeoutSeconds = call.name === 'shell' ? call.args.timeout_seconds : 60;
    let lost: SandboxLease | undefined;
    for (let attempt = 1; ; attempt++) {
      const { lease: current, claimed } = await ensureSandbox();
      if (patched(EVENTS_BEFORE_TOOL_PATCH)) await outbox.flush();
      try {
        const outcome = await onHost(current, { startToCloseTimeout: (timeoutSeconds + 60) * 1000 }).execTool({
          session,
          lease: current,
          messageSeq: planned.seq,
          toolCallId: planned.id,
          call,
          idempotencyKey: `${session.sessionId}:${planned.seq}`,
          // The model reads, with this result, that the sandbox was replaced.
          ...(lost ? { lostSandbox: { containerId: lost.containerId, hostId: lost.hostId } } : {}),
          ...(claimed ? { claimed } : {}),
          ...(call.name === REQUEST_NETWORK ? { grant: grantOf(planned) } : {}),
          ...secretsFor(),
          ...(planned.mounts && planned.gate?.status === 'approved' ? { mounts: { secrets: [...planned.mounts], gate: planned.gate.id } } : {}),
        });
        usage.toolCalls += 1;
        if (planned.name === BROWSER_TOOL && typeof outcome.pageUrl === 'string') pageUrl = outcome.pageUrl;
        return;
      } catch (err) {
        const why = isSandboxLost(err);
        if (!why || attempt >= 2) throw err;
        outbox.push('sandbox.lost', { containerId: current.containerId, hostId: current.hostId, toolCallId: planned.id, reason: why });
        // The loss is in the event log before anything of the new sandbox.
        await outbox.flush();
        lost = current;
        lease = null;
      }
    }
  }

  /** Who let a request_network host through: its gate's approvers, or the policy's network.allow. */
  function grantOf(planned: PlannedCall): { gate: string | null; grantedBy: string } {
    const gate = planned.gate;
    if (!gate) return { gate: null, grantedBy: `policy ${snapshot.name} (network.allow)` };
    return { gate: gate.id, grantedBy: gate.approvals.map((a) => a.approver).join(', ') };
  }

  async function recordResult(planned: PlannedCall, result: ToolResultPayload): Promise<void> {
    await store.recordToolResult({ session, messageSeq: planned.seq, toolCallId: planned.id, name: planned.name, result });
  }

  // ---- approval gates ----
  async function runGate(planned: PlannedCall, decision: Extract<Decision, { action: 'approve' }>, call: ValidToolCall) {
    const gate: Gate = {
      id: `gate-${planned.seq}`,
      toolCallId: planned.id,
      tool: planned.name,
      // A browser gate shows the page the action works on, beside the action; a mount gate which secret
      // goes to which file (policies/approval-display.ts).
      arguments:
        browserContext(planned.name).pageUrl !== undefined
          ? { ...call.args, page_url: pageUrl }
          : planned.mounts
            ? { ...call.args, secret_mounts: planned.mounts.map((m) => ({ ...m })) }
            : call.args,
      risk: decision.risk,
      reason: decision.reason,
      ruleId: decision.ruleId,
      requester: input.requester,
      required: decision.approvers,
      roles: decision.roles,
      excludedApprovers: decision.excludedApprovers,
      approvals: [],
      status: 'open',
      openedAt: workflowIso(),
      expiresAt: workflowIso(decision.timeoutMs),
      slackChannel: decision.slackChannel,
    };
    planned.gate = gate;
    gates.set(gate.id, gate);
    setStatus('waiting_approval');
    outbox.push('approval.requested', { ...gateView(gate), timeoutMs: decision.timeoutMs, onTimeout: decision.onTimeout }, { gate: gateRecord(gate) });
    slackSync.open(gate);
    const decided = await condition(() => gate.status !== 'open', decision.timeoutMs);
    if (!decided) {
      gate.status = 'timed_out';
      resolved(gate);
    }
    if (![...gates.values()].some((g) => g.status === 'open')) setStatus('running');
  }

  /**
   * The secrets a shell call asks to have mounted, each checked against the session's mountable ones;
   * undefined when it asks for none.
   */
  function secretMounts(call: ValidToolCall): { mounts: { name: string; path: string }[] } | { invalid: string } | undefined {
    if (call.name !== 'shell' || !call.args.mount_secrets || !patched(SECRET_MOUNT_PATCH)) return undefined;
    const mountable = mountableSecrets(input.secrets);
    const mounts: { name: string; path: string }[] = [];
    for (const name of call.args.mount_secrets) {
      const path = mountable.get(name);
      if (path === undefined) return { invalid: `secret ${name} cannot be mounted: it is not one of this agent's secrets with a mount path` };
      mounts.push({ name, path });
    }
    return { mounts };
  }

  // ---- one model step's tool calls ----
  async function handleToolCalls(calls: readonly { id: string; name: string; arguments: string }[]): Promise<void> {
    const planned: PlannedCall[] = calls.map((c) => {
      const seq = nextMessageSeq++;
      const parsed = parseToolCall(c.name, c.arguments);
      if (!parsed.ok) return { id: c.id, name: c.name, seq, invalid: parsed.error };
      const mounts = secretMounts(parsed.call);
      if (mounts && 'invalid' in mounts) return { id: c.id, name: c.name, seq, invalid: mounts.invalid };
      const judged = evaluatePolicy(policy, { name: parsed.call.name, arguments: parsed.call.args }, browserContext(parsed.call.name));
      const decision = mounts ? secretMountDecision(policy, judged, mounts.mounts) : judged;
      return { id: c.id, name: c.name, seq, call: parsed.call, decision, ...(mounts ? { mounts: mounts.mounts } : {}) };
    });
    for (const p of planned) {
      outbox.push('tool.decision', {
        toolCallId: p.id,
        name: p.name,
        seq: p.seq,
        ...(p.invalid !== undefined
          ? { action: 'invalid', reason: p.invalid }
          : { action: p.decision?.action, ruleId: p.decision?.ruleId, reason: p.decision && 'reason' in p.decision ? p.decision.reason : null }),
      });
    }
    // Gates of parallel calls are open at the same time.
    await Promise.all(
      planned.map((p) => (p.decision?.action === 'approve' && p.call ? runGate(p, p.decision, p.call) : undefined)),
    );
    for (const p of planned) {
      if (p.invalid !== undefined || !p.call || !p.decision) {
        await recordResult(p, { ok: false, error: p.invalid ?? 'invalid tool call' });
        continue;
      }
      const d = p.decision;
      if (d.action === 'deny') {
        await recordResult(p, { ok: false, denied: true, error: `denied by policy ${snapshot.name} (${d.ruleId}): ${d.reason}` });
        continue;
      }
      if (d.action === 'approve' && p.gate && p.gate.status !== 'approved') {
        const gate = p.gate;
        const why =
          gate.status === 'rejected'
            ? `rejected by ${gate.rejectedBy ?? 'an approver'}`
            : `not approved within ${Math.round(d.timeoutMs / 1000)} s (${gate.approvals.length} of ${gate.required} approvals)`;
        await recordResult(p, { ok: false, denied: true, gate: gate.id, error: `the call needed approval and was ${why}` });
        if (gate.status === 'timed_out' && d.onTimeout === 'fail') {
          throw ApplicationFailure.create({ type: 'approval_timeout', message: `gate ${gate.id} timed out`, nonRetryable: true });
        }
        continue;
      }
      await execTool(p, p.call);
    }
  }

  async function takeUserMessages(): Promise<void> {
    if (pendingMessages.length === 0) return;
    const messages = pendingMessages.splice(0).map((m) => {
      const seq = nextMessageSeq++;
      return { seq, content: m.content, from: m.from, eventKey: `message:${seq}` };
    });
    await store.appendUserMessages({ session, messages });
  }

  function shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    const limit = tuning.continueAsNewAfterEvents ?? DEFAULT_CONTINUE_AS_NEW_AFTER;
    return (info.continueAsNewSuggested || info.historyLength >= limit) && ![...gates.values()].some((g) => g.status === 'open');
  }

  async function loop(): Promise<Ending> {
    for (;;) {
      if (shouldContinueAsNew()) {
        await condition(allHandlersFinished);
        if (!slackSync.idle && patched(SLACK_SETTLED_BEFORE_END_PATCH)) await condition(() => slackSync.idle, SLACK_SETTLE_WAIT);
        await outbox.flush();
        await continueAsNew<typeof agentSession>({
          ...input,
          carry: {
            step,
            nextMessageSeq,
            eventCounter: outbox.counter,
            usage,
            lease,
            pendingMessages: [...pendingMessages],
            seenMessageIds: [...seenMessageIds],
            ...(pageUrl !== undefined ? { pageUrl } : {}),
            lastAnswer,
            run,
          },
        });
      }
      await takeUserMessages();
      if (step >= policy.limits.maxSteps) return { status: 'max_steps', finalAnswer: lastAnswer, error: `stopped after ${step} steps (limit ${policy.limits.maxSteps})` };
      if (usage.costUsd >= policy.limits.maxCostUsd) {
        return { status: 'max_cost', finalAnswer: lastAnswer, error: `stopped at $${usage.costUsd.toFixed(6)} (limit $${policy.limits.maxCostUsd})` };
      }
      step += 1;
      const answer = await llm.llmStep({
        session,
        messageSeq: nextMessageSeq++,
        step,
        model: input.model,
        requestType: input.requestType,
        tools: offeredTools(policy),
        metadata: input.metadata,
      });
      usage.inputTokens += answer.inputTokens;
      usage.outputTokens += answer.outputTokens;
      usage.costUsd = Math.round((usage.costUsd + answer.costUsd) * 1e8) / 1e8;
      usage.llmCalls += 1;
      if (answer.toolCalls.length > 0) {
        await handleToolCalls(answer.toolCalls);
        continue;
      }
      lastAnswer = answer.content;
      if (pendingMessages.length > 0) continue;
      if ((input.idleTimeoutMs ?? 0) > 0 && (await condition(() => pendingMessages.length > 0, input.idleTimeoutMs ?? 0))) continue;
      return { status: 'completed', finalAnswer: answer.content, error: null };
    }
  }

  // ---- run ----
  /** The session's first records: in the loop's scope, so that a cancel also stops a first write that keeps failing. */
  async function start(): Promise<void> {
    if (carry) return;
    await store.startSession({
      session,
      agent: input.agent,
      requester: input.requester,
      policyName: snapshot.name,
      policyHash: snapshot.hash,
      model: input.model ?? null,
      metadata: input.metadata,
      systemPrompt: input.systemPrompt,
      userMessage: input.message,
    });
  }

  let ending: Ending;
  let rethrow: unknown;
  try {
    loopScope = new CancellationScope();
    // A cancel that came before the scope existed.
    if (cancelRequest) loopScope.cancel();
    ending = await loopScope.run(async () => {
      await start();
      return loop();
    });
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    // Assigned by the outbox's writer, which TypeScript's flow analysis cannot see.
    const failedWrite = writeFailure as string | null;
    if (isCancellation(err) && failedWrite !== null && !cancelRequest) {
      ending = { status: 'failed', finalAnswer: lastAnswer, error: failedWrite };
      rethrow = ApplicationFailure.create({ type: 'session_failed', message: failedWrite, nonRetryable: true });
    } else if (isCancellation(err)) {
      // Assigned by the cancel signal's handler, which TypeScript's flow analysis cannot see.
      const request = cancelRequest as CancelRequest | null;
      const by = request ? `${request.by}${request.reason ? `: ${request.reason}` : ''}` : 'Temporal';
      ending = { status: 'cancelled', finalAnswer: lastAnswer, error: `cancelled by ${by}` };
      if (!request) rethrow = err;
    } else {
      const message = failureMessage(err);
      ending = { status: 'failed', finalAnswer: lastAnswer, error: message };
      rethrow = ApplicationFailure.create({ type: 'session_failed', message, nonRetryable: true, cause: err as Error });
    }
  }

  // Cleanup runs even when the session was cancelled.
  await CancellationScope.nonCancellable(async () => {
    for (const gate of gates.values()) {
      if (gate.status === 'open') {
        gate.status = 'cancelled';
        resolved(gate);
      }
    }
    if (lease) {
      const held = lease;
      try {
        await onHost(held, { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } }).releaseSandbox({ session });
        outbox.push('sandbox.released', { containerId: held.containerId, hostId: held.hostId });
      } catch (err) {
        outbox.push('sandbox.released', { containerId: held.containerId, hostId: held.hostId, error: (err as Error).message });
      }
      lease = null;
    }
    upsertSearchAttributes([{ key: STATUS_KEY, value: ending.status }]);
    if (!slackSync.idle && patched(SLACK_SETTLED_BEFORE_END_PATCH)) await condition(() => slackSync.idle, SLACK_SETTLE_WAIT);
    // Bounded: the writer's retries have a budget and its failures are caught (writeFailure).
    await outbox.flush();
    const lostEvents = writeFailure as string | null;
    const end = {
      session,
      status: ending.status,
      finalAnswer: ending.finalAnswer ?? null,
      error: ending.error ?? (lostEvents ? `some events could not be written: ${lostEvents}` : null),
      usage,
      step,
    };
    try {
      await store.finishSession(end);
    } catch (err) {
      // The row still ends (without its session.ended event): no session stays `running` after its workflow.
      await store.finishSessionRow({ ...end, writeError: failureMessage(err) });
    }
    // Only now does the query report the end: the row already holds the answer.
    status = ending.status;
    await condition(allHandlersFinished);
  });
  if (rethrow) throw rethrow;
  return { status: ending.status, finalAnswer: ending.finalAnswer ?? null, error: ending.error ?? null, usage, steps: step };
}

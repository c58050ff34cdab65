/**
 * One agent session's state and its message handlers: what the session has
 * done so far (carried across continue-as-new), its gates, its status, the
 * outbox that writes its events, and the query, signals and updates that read
 * and change it. The steps (session-loop.ts, session-tools.ts,
 * session-end.ts) work on this one object.
 */
import { patched, setHandler, upsertSearchAttributes, type CancellationScope } from '@temporalio/workflow';
import type { ParkedWorkspace, SandboxLease, UserMessageInput } from '../activities/types.js';
import { EVENT_KEY_SOURCES, eventKey } from '../domain/events.js';
import type { SessionRef, SessionStatus, SessionUsage } from '../domain/session.js';
import type { Gate } from '../domain/gate.js';
import { BROWSER_TOOL } from '../policies/browser-url.js';
import type { Policy, PolicyContext } from '../policies/evaluate.js';
import type { PolicySnapshot } from '../policies/load.js';
import {
  STATUS_KEY,
  cancelSignal,
  stateQuery,
  userMessageSignal,
  type AgentSessionInput,
  type ApprovalResult,
  type ApprovalVote,
  type CancelRequest,
  type CarriedState,
  type SessionStateView,
  type UserMessage,
} from './definitions.js';
import { workflowIso } from './clock.js';
import { applyVote, gateView } from './gates.js';
import { GateSlackSync } from './gate-slack.js';
import { EventOutbox } from './outbox.js';
import { sessionActivities, failureMessage, type SessionActivities } from './session-activities.js';
import { BROWSER_PAGE_PATCH, SESSION_SECRETS_PATCH } from './session-patches.js';
import { installVoteHandlers } from './vote-intake.js';

export class SessionState {
  readonly input: AgentSessionInput;
  readonly session: SessionRef;
  readonly snapshot: PolicySnapshot;
  readonly policy: Policy;
  readonly activities: SessionActivities;

  // ---- carried across continue-as-new ----
  step: number;
  /** The transcript seq the next message gets: taken only through takeMessageSeq / takeUserMessages. */
  #nextMessageSeq: number;
  readonly usage: SessionUsage;
  /** The sandbox the session holds: changed only through holdSandbox / dropSandbox. */
  #lease: SandboxLease | null;
  readonly pendingMessages: UserMessage[];
  readonly seenMessageIds: Set<string>;
  lastAnswer: string | null;
  /** The browser's page, from the last browser result: browser rules judge clicks and typing on its host. */
  pageUrl: string | undefined;
  /** This run's number: 1, and one more after each continue-as-new. */
  readonly run: number;
  /** The workspace tarball a parked sandbox left (workflows/session-park.ts): the next claim restores it. */
  parked: ParkedWorkspace | null;
  /** Parks so far: each one's artifact ref is its own. */
  parks: number;

  // ---- this run's ----
  /** Changed only through setStatus and ended. */
  #status: SessionStatus = 'running';
  cancelRequest: CancelRequest | null = null;
  readonly gates = new Map<string, Gate>();
  /** Why an event write failed for good (refused, or its retries spent): the session then ends, failed, saying so. */
  writeFailure: string | null = null;
  readonly outbox: EventOutbox;
  readonly slackSync: GateSlackSync;
  /** The scope of the session's start and loop; a cancel, or an event write that failed for good, cancels it. */
  loopScope: CancellationScope | undefined;

  constructor(input: AgentSessionInput) {
    const carry = input.carry;
    this.input = input;
    this.session = input.session;
    this.snapshot = input.policy;
    this.policy = input.policy.policy;
    this.activities = sessionActivities(input);
    this.step = carry?.step ?? 0;
    this.#nextMessageSeq = carry?.nextMessageSeq ?? 2;
    this.usage = carry ? { ...carry.usage } : { inputTokens: 0, outputTokens: 0, costUsd: 0, llmCalls: 0, toolCalls: 0 };
    this.#lease = carry?.lease ?? null;
    this.pendingMessages = [...(carry?.pendingMessages ?? [])];
    this.seenMessageIds = new Set(carry?.seenMessageIds ?? []);
    this.lastAnswer = carry?.lastAnswer ?? null;
    this.pageUrl = carry?.pageUrl;
    this.run = (carry?.run ?? 0) + 1;
    this.parked = carry?.parked ?? null;
    this.parks = carry?.parks ?? 0;
    this.outbox = new EventOutbox(this.session, carry?.eventCounter ?? 0, this.activities.store.recordEvents, (err) => {
      this.writeFailure ??= failureMessage(err);
      this.loopScope?.cancel();
    });
    this.slackSync = new GateSlackSync(this.session, this.outbox);
  }

  /** The query, the user's messages, the votes and the cancel; in this order (as the recorded sessions registered them). */
  registerHandlers(): void {
    setHandler(stateQuery, () => this.view());
    setHandler(userMessageSignal, (message) => {
      if (message.id !== undefined) {
        if (this.seenMessageIds.has(message.id)) return;
        this.seenMessageIds.add(message.id);
      }
      this.pendingMessages.push(message);
    });
    installVoteHandlers({
      sessionId: this.session.sessionId,
      gates: this.gates,
      take: (vote) => this.takeVote(vote),
      refused: (vote, code) => {
        const approval = { gateId: vote.gateId, approver: vote.approver, roles: vote.roles ?? [], channel: vote.channel, decision: vote.decision };
        this.outbox.push('approval.refused', { ...approval, code }, { approval: { ...approval, outcome: `refused:${code}`, comment: vote.comment } });
      },
    });
    setHandler(cancelSignal, (request) => {
      if (this.cancelRequest) return;
      this.cancelRequest = request;
      this.loopScope?.cancel();
    });
  }

  /** The policy context a call is judged in: a browser call's page, for sessions recorded after the browser came. */
  browserContext(name: string): PolicyContext {
    return name === BROWSER_TOOL && patched(BROWSER_PAGE_PATCH) ? { pageUrl: this.pageUrl } : {};
  }

  /** The secrets for the sandbox activities (claim: checked and bound; exec: masked in output), when the session has any. */
  secretsFor(): { secrets?: NonNullable<AgentSessionInput['secrets']> } {
    const secrets = this.input.secrets;
    return secrets && secrets.length > 0 && patched(SESSION_SECRETS_PATCH) ? { secrets } : {};
  }

  get status(): SessionStatus {
    return this.#status;
  }

  get lease(): SandboxLease | null {
    return this.#lease;
  }

  /** The next message's transcript seq (a model answer, a tool result), taken: seqs are never reused. */
  takeMessageSeq(): number {
    return this.#nextMessageSeq++;
  }

  /** The user's messages that arrived since the last look, each with its transcript seq and event key, in arrival order. */
  takeUserMessages(): UserMessageInput[] {
    return this.pendingMessages.splice(0).map((m) => {
      const seq = this.takeMessageSeq();
      return { seq, content: m.content, from: m.from, eventKey: eventKey(EVENT_KEY_SOURCES.message, seq) };
    });
  }

  holdSandbox(lease: SandboxLease): void {
    this.#lease = lease;
  }

  /** The session no longer holds a sandbox (released, or lost). */
  dropSandbox(): void {
    this.#lease = null;
  }

  setStatus(next: SessionStatus): void {
    if (this.#status === next) return;
    this.#status = next;
    upsertSearchAttributes([{ key: STATUS_KEY, value: next }]);
    this.outbox.patch({ status: next });
  }

  /**
   * The session's final status, for the query only: set after finishSession wrote the row (whose status
   * the activity sets), so neither a search attribute nor an outbox patch goes with it.
   */
  ended(status: SessionStatus): void {
    this.#status = status;
  }

  /** An open gate closes without votes (it timed out, or the session ends): said everywhere, as resolved() does. */
  closeGate(gate: Gate, status: 'timed_out' | 'cancelled'): void {
    gate.status = status;
    this.resolved(gate);
  }

  anyGateOpen(): boolean {
    return [...this.gates.values()].some((g) => g.status === 'open');
  }

  view(): SessionStateView {
    return {
      sessionId: this.session.sessionId,
      status: this.status,
      step: this.step,
      usage: { ...this.usage },
      pendingApprovals: [...this.gates.values()].filter((g) => g.status === 'open').map(gateView),
      sandbox: this.lease ? { containerId: this.lease.containerId, hostId: this.lease.hostId } : null,
      run: this.run,
      finalAnswer: this.status === 'completed' ? this.lastAnswer : null,
    };
  }

  /** What the next run starts from (continue-as-new). */
  carried(): CarriedState {
    return {
      step: this.step,
      nextMessageSeq: this.#nextMessageSeq,
      eventCounter: this.outbox.counter,
      usage: this.usage,
      lease: this.lease,
      pendingMessages: [...this.pendingMessages],
      seenMessageIds: [...this.seenMessageIds],
      ...(this.pageUrl !== undefined ? { pageUrl: this.pageUrl } : {}),
      lastAnswer: this.lastAnswer,
      run: this.run,
      ...(this.parked ? { parked: this.parked } : {}),
      ...(this.parks > 0 ? { parks: this.parks } : {}),
    };
  }

  /**
   * A gate just closed (approved, rejected, timed out, cancelled): say so everywhere. The event carries a copy
   * of the gate (`{ ...gate }`, here and where it opens or takes a vote): the outbox writes it later, and the
   * gate changes in place meanwhile.
   */
  resolved(gate: Gate): void {
    this.outbox.push(
      'approval.resolved',
      { gateId: gate.id, outcome: gate.status, approvers: gate.approvals.map((a) => a.approver), rejectedBy: gate.rejectedBy ?? null },
      { gate: { ...gate } },
    );
    this.slackSync.changed(gate);
  }

  takeVote(vote: ApprovalVote): ApprovalResult | undefined {
    const gate = this.gates.get(vote.gateId);
    if (!gate) return undefined;
    const { counted, closed } = applyVote(gate, vote, workflowIso());
    this.outbox.push(
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
        gate: { ...gate },
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
    if (closed) this.resolved(gate);
    else this.slackSync.changed(gate);
    return { gate: gateView(gate), counted };
  }
}

/**
 * One model step's tool calls: each is parsed and judged against the pinned
 * policy, calls that need approval wait on their gates (all at the same
 * time), and then, one after the other, denied and invalid calls get their
 * refusal as the result and allowed ones run in the session's sandbox,
 * claimed when it has none and claimed again once when it is lost.
 */
import { ApplicationFailure, condition, patched } from '@temporalio/workflow';
import type { ModelToolCall, NewEvent, SandboxClaimInfo, SandboxLease, ToolResultPayload } from '../activities/types.js';
import type { Gate } from '../domain/gate.js';
import { mountableSecrets } from '../domain/secret-names.js';
import { BROWSER_TOOL } from '../policies/browser-url.js';
import { evaluatePolicy, secretMountDecision, type Decision } from '../policies/evaluate.js';
import { REQUEST_NETWORK, parseToolCall, type ValidToolCall } from '../sandbox/tools.js';
import { workflowIso } from './clock.js';
import { gateView } from './gates.js';
import { isSandboxLost, parkedBy } from './session-activities.js';
import { parkDelay, parkWhile } from './session-park.js';
import { DECISIONS_WITH_STEP_PATCH, EVENTS_BEFORE_TOOL_PATCH, SECRET_MOUNT_PATCH } from './session-patches.js';
import type { SessionState } from './session-state.js';

/** How often one call may find its sandbox parked for a waiting claim and move (each move waits its turn in the pool). */
const MAX_MOVES = 10;

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

export class SessionTools {
  constructor(private readonly state: SessionState) {}

  /** Runs one model step's tool calls; each gets its result (or refusal) stored for the next step. */
  async handle(calls: readonly ModelToolCall[]): Promise<void> {
    const s = this.state;
    const planned = calls.map((c) => this.plan(c));
    const decisions = planned.map((p) => ({
      toolCallId: p.id,
      name: p.name,
      seq: p.seq,
      ...(p.invalid !== undefined
        ? { action: 'invalid', reason: p.invalid }
        : { action: p.decision?.action, ruleId: p.decision?.ruleId, reason: p.decision && 'reason' in p.decision ? p.decision.reason : null }),
    }));
    const gated = planned.some((p) => p.decision?.action === 'approve' && p.call);
    // Without gates the decisions ride with the step's first tool activity; a gate's events must be stored
    // while it waits, so they go through the outbox as before.
    let carried = !gated && patched(DECISIONS_WITH_STEP_PATCH) ? decisions.map((d) => s.outbox.reserve('tool.decision', d)) : undefined;
    if (!carried) for (const d of decisions) s.outbox.push('tool.decision', d);
    // Gates of parallel calls are open at the same time.
    const gates = Promise.all(
      planned.map((p) => (p.decision?.action === 'approve' && p.call ? this.runGate(p, p.decision, p.call) : undefined)),
    );
    // A long wait on people parks the sandbox (workflows/session-park.ts); sessions recorded before await the gates alone.
    const parkAfter = gated ? parkDelay(s, Math.max(...planned.map((p) => (p.decision?.action === 'approve' ? p.decision.timeoutMs : 0)))) : undefined;
    if (parkAfter !== undefined) await Promise.all([gates, parkWhile(s, () => s.anyGateOpen(), parkAfter)]);
    else await gates;
    for (const p of planned) {
      const carry = carried;
      carried = undefined;
      // Inline, not a helper: an extra async call's promise ticks would reorder commands of recorded histories.
      try {
        if (p.invalid !== undefined || !p.call || !p.decision) {
          await this.recordResult(p, { ok: false, error: p.invalid ?? 'invalid tool call' }, carry);
          continue;
        }
        const d = p.decision;
        if (d.action === 'deny') {
          await this.recordResult(p, { ok: false, denied: true, error: `denied by policy ${s.snapshot.name} (${d.ruleId}): ${d.reason}` }, carry);
          continue;
        }
        if (d.action === 'approve' && p.gate && p.gate.status !== 'approved') {
          const gate = p.gate;
          const why =
            gate.status === 'rejected'
              ? `rejected by ${gate.rejectedBy ?? 'an approver'}`
              : `not approved within ${Math.round(d.timeoutMs / 1000)} s (${gate.approvals.length} of ${gate.required} approvals)`;
          await this.recordResult(p, { ok: false, denied: true, gate: gate.id, error: `the call needed approval and was ${why}` });
          if (gate.status === 'timed_out' && d.onTimeout === 'fail') {
            throw ApplicationFailure.create({ type: 'approval_timeout', message: `gate ${gate.id} timed out`, nonRetryable: true });
          }
          continue;
        }
        await this.execTool(p, p.call, carry);
      } catch (err) {
        // The activity may not have written them (a cancelled session, a failed claim): the outbox does.
        if (carry) s.outbox.resend(carry);
        throw err;
      }
    }
  }

  /** A call's message number, and what the policy decides about it (or why it is invalid). */
  private plan(c: ModelToolCall): PlannedCall {
    const s = this.state;
    const seq = s.takeMessageSeq();
    const parsed = parseToolCall(c.name, c.arguments);
    if (!parsed.ok) return { id: c.id, name: c.name, seq, invalid: parsed.error };
    const mounts = this.secretMounts(parsed.call);
    if (mounts && 'invalid' in mounts) return { id: c.id, name: c.name, seq, invalid: mounts.invalid };
    const judged = evaluatePolicy(s.policy, { name: parsed.call.name, arguments: parsed.call.args }, s.browserContext(parsed.call.name));
    const decision = mounts ? secretMountDecision(s.policy, judged, mounts.mounts) : judged;
    return { id: c.id, name: c.name, seq, call: parsed.call, decision, ...(mounts ? { mounts: mounts.mounts } : {}) };
  }

  /**
   * The secrets a shell call asks to have mounted, each checked against the session's mountable ones;
   * undefined when it asks for none.
   */
  private secretMounts(call: ValidToolCall): { mounts: { name: string; path: string }[] } | { invalid: string } | undefined {
    if (call.name !== 'shell' || !call.args.mount_secrets || !patched(SECRET_MOUNT_PATCH)) return undefined;
    const mountable = mountableSecrets(this.state.input.secrets);
    const mounts: { name: string; path: string }[] = [];
    for (const name of call.args.mount_secrets) {
      const path = mountable.get(name);
      if (path === undefined) return { invalid: `secret ${name} cannot be mounted: it is not one of this agent's secrets with a mount path` };
      mounts.push({ name, path });
    }
    return { mounts };
  }

  // ---- approval gates ----
  private async runGate(planned: PlannedCall, decision: Extract<Decision, { action: 'approve' }>, call: ValidToolCall): Promise<void> {
    const s = this.state;
    const gate: Gate = {
      id: `gate-${planned.seq}`,
      toolCallId: planned.id,
      tool: planned.name,
      // A browser gate shows the page the action works on, beside the action; a mount gate which secret
      // goes to which file (policies/approval-display.ts).
      arguments:
        s.browserContext(planned.name).pageUrl !== undefined
          ? { ...call.args, page_url: s.pageUrl }
          : planned.mounts
            ? { ...call.args, secret_mounts: planned.mounts.map((m) => ({ ...m })) }
            : call.args,
      risk: decision.risk,
      reason: decision.reason,
      ruleId: decision.ruleId,
      requester: s.input.requester,
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
    s.gates.set(gate.id, gate);
    s.setStatus('waiting_approval');
    s.outbox.push('approval.requested', { ...gateView(gate), timeoutMs: decision.timeoutMs, onTimeout: decision.onTimeout }, { gate: { ...gate } });
    s.slackSync.open(gate);
    const decided = await condition(() => gate.status !== 'open', decision.timeoutMs);
    if (!decided) {
      s.closeGate(gate, 'timed_out');
    }
    if (!s.anyGateOpen()) s.setStatus('running');
  }

  // ---- the sandbox ----
  /** The session's sandbox, claimed when it has none; `claimed` says how, for the next tool call to record. */
  private async ensureSandbox(): Promise<{ lease: SandboxLease; claimed?: SandboxClaimInfo }> {
    const s = this.state;
    if (s.lease) return { lease: s.lease };
    const policy = s.policy;
    const network = policy.network.allow;
    // Hosts to approve put the sandbox on the egress network too; without any (older snapshots) the input is as it was.
    const approve = policy.network.approve ?? [];
    // After a park, the claim restores the parked workspace (only then is `resume` in the input: recorded claims had none).
    const resume = s.parked;
    const claimed = await s.activities.claimer.claimSandbox({
      session: s.session,
      network,
      ...(approve.length > 0 ? { approve } : {}),
      ...s.secretsFor(),
      ...(resume ? { resume } : {}),
    });
    const lease = { containerId: claimed.containerId, hostId: claimed.hostId, taskQueue: claimed.taskQueue };
    s.holdSandbox(lease);
    return {
      lease,
      claimed: { created: claimed.created, replacedStopped: claimed.replacedStopped, source: claimed.source, network, ...(resume ? { resumed: resume.sha256 } : {}) },
    };
  }

  /** `decisions`: the step's, carried by its first activity; sent again if the sandbox is lost (their keys make that a no-op). */
  private async execTool(planned: PlannedCall, call: ValidToolCall, decisions: readonly NewEvent[] | undefined): Promise<void> {
    const s = this.state;
    const timeoutSeconds = call.name === 'shell' ? call.args.timeout_seconds : 60;
    let lost: SandboxLease | undefined;
    let moves = 0;
    for (let attempt = 1; ; attempt++) {
      const { lease: current, claimed } = await this.ensureSandbox();
      if (patched(EVENTS_BEFORE_TOOL_PATCH)) await s.outbox.flush();
      try {
        const outcome = await s.activities.onHost(current, { startToCloseTimeout: (timeoutSeconds + 60) * 1000 }).execTool({
          session: s.session,
          lease: current,
          messageSeq: planned.seq,
          toolCallId: planned.id,
          call,
          idempotencyKey: `${s.session.sessionId}:${planned.seq}`,
          // The model reads, with this result, that the sandbox was replaced.
          ...(lost ? { lostSandbox: { containerId: lost.containerId, hostId: lost.hostId } } : {}),
          ...(claimed ? { claimed } : {}),
          ...(decisions ? { decisions } : {}),
          ...(call.name === REQUEST_NETWORK ? { grant: this.grantOf(planned) } : {}),
          ...s.secretsFor(),
          ...(planned.mounts && planned.gate?.status === 'approved' ? { mounts: { secrets: [...planned.mounts], gate: planned.gate.id } } : {}),
        });
        s.usage.toolCalls += 1;
        // The parked workspace is in the new sandbox now: a later loss of it is a loss (until then a re-claim restores it again).
        s.parked = null;
        if (planned.name === BROWSER_TOOL && typeof outcome.pageUrl === 'string') s.pageUrl = outcome.pageUrl;
        return;
      } catch (err) {
        // Its host parked the sandbox for a waiting claim: the call moves to a new one with the workspace (not a loss).
        const parked = parkedBy(err);
        if (parked && moves < MAX_MOVES) {
          moves += 1;
          attempt -= 1;
          s.outbox.push('sandbox.parked', { containerId: current.containerId, hostId: current.hostId, by: 'pool', workspace: parked });
          s.parked = parked;
          s.dropSandbox();
          continue;
        }
        const why = isSandboxLost(err);
        if (!why || attempt >= 2) throw err;
        s.outbox.push('sandbox.lost', { containerId: current.containerId, hostId: current.hostId, toolCallId: planned.id, reason: why });
        // The loss is in the event log before anything of the new sandbox.
        await s.outbox.flush();
        lost = current;
        s.dropSandbox();
      }
    }
  }

  /** Who let a request_network host through: its gate's approvers, or the policy's network.allow. */
  private grantOf(planned: PlannedCall): { gate: string | null; grantedBy: string } {
    const gate = planned.gate;
    if (!gate) return { gate: null, grantedBy: `policy ${this.state.snapshot.name} (network.allow)` };
    return { gate: gate.id, grantedBy: gate.approvals.map((a) => a.approver).join(', ') };
  }

  private async recordResult(planned: PlannedCall, result: ToolResultPayload, decisions?: readonly NewEvent[]): Promise<void> {
    const s = this.state;
    await s.activities.store.recordToolResult({
      session: s.session,
      messageSeq: planned.seq,
      toolCallId: planned.id,
      name: planned.name,
      result,
      ...(decisions ? { decisions } : {}),
    });
  }
}

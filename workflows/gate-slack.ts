/**
 * Keeps each gate's Slack message in step with the gate, in the background:
 * post when it opens, update after votes and when it closes. Changes that
 * arrive while an update is on its way are coalesced into the next one. A
 * Slack failure is recorded as an event and never blocks the gate.
 */
import { CancellationScope, patched, proxyActivities } from '@temporalio/workflow';
import type { NotifyActivities } from '../activities/index.js';
import type { SessionRef } from '../domain/session.js';
import type { EventOutbox } from './outbox.js';
import type { Gate } from '../domain/gate.js';
import { gateView } from './gates.js';

/**
 * A change that arrived after the sync's last look at its gate but before the sync was marked done (both
 * resolved in one activation: the update's completion and a vote) was dropped, and the message kept the
 * gate's earlier state. The sync starts again; histories recorded before this fix replay without the
 * extra update.
 */
export const GATE_SLACK_RESYNC_PATCH = 'gate-slack-resync';

interface Tracked {
  gate: Gate;
  version: number;
  rendered: number;
  message?: { channel: string; ts: string };
  running: boolean;
  failed: boolean;
}

export class GateSlackSync {
  readonly #tracked = new Map<string, Tracked>();
  readonly #slack = proxyActivities<NotifyActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8 },
  });

  constructor(
    private readonly session: SessionRef,
    private readonly outbox: EventOutbox,
  ) {}

  /** Starts posting a gate whose policy names a channel; does nothing otherwise. */
  open(gate: Gate): void {
    if (!gate.slackChannel) return;
    this.#tracked.set(gate.id, { gate, version: 1, rendered: 0, running: false, failed: false });
    this.#kick(gate.id);
  }

  /** The gate changed (a vote, its close): its message will show it. */
  changed(gate: Gate): void {
    const t = this.#tracked.get(gate.id);
    if (!t) return;
    t.version += 1;
    this.#kick(gate.id);
  }

  /**
   * True when every message shows its gate's last state, or its sync failed for good. A session that
   * ended without waiting for this lost its last update (the message kept the buttons of a gate that
   * was already approved).
   */
  get idle(): boolean {
    return [...this.#tracked.values()].every((t) => !t.running);
  }

  #kick(gateId: string): void {
    const t = this.#tracked.get(gateId);
    if (!t || t.running || t.failed) return;
    t.running = true;
    // Not cancelled with the session: a cancelled session's gates show "cancelled" too.
    void CancellationScope.nonCancellable(() => this.#sync(t)).finally(() => {
      t.running = false;
      if (t.rendered < t.version && !t.failed && patched(GATE_SLACK_RESYNC_PATCH)) this.#kick(gateId);
    });
  }

  async #sync(t: Tracked): Promise<void> {
    // The gate's row must exist before the message's timestamp is stored on it.
    await this.outbox.flush();
    while (t.rendered < t.version && !t.failed) {
      const version = t.version;
      try {
        if (!t.message) t.message = await this.#slack.postGateMessage({ session: this.session, gate: gateView(t.gate) });
        else await this.#slack.updateGateMessage({ session: this.session, gate: gateView(t.gate), message: t.message });
        t.rendered = version;
      } catch (err) {
        t.failed = true;
        this.outbox.push('approval.notify_failed', {
          gateId: t.gate.id,
          channel: t.gate.slackChannel,
          error: err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err),
        });
      }
    }
  }
}

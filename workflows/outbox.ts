/**
 * Events the workflow itself decides (policy decisions, gates, votes, status
 * changes), written in order by one background writer. Each event's key is
 * derived from a counter carried across continue-as-new, so a replayed or
 * retried write is stored once. Writes survive cancellation of the session.
 */
import { CancellationScope, patched } from '@temporalio/workflow';
import type { NewEvent, SessionPatch } from '../activities/types.js';
import type { SessionRef } from '../domain/session.js';
import { EVENT_KEY_SOURCES, eventKey, type EventType } from '../domain/events.js';

/** The change id of the re-drain (workflow versioning). */
export const OUTBOX_REDRAIN_PATCH = 'outbox-redrain';

type RecordEvents = (input: { session: SessionRef; events: readonly NewEvent[]; patch?: SessionPatch }) => Promise<void>;
/** Told when a write failed for good (refused, or its retries spent); its events are not written. */
type OnWriteFailure = (err: unknown) => void;

export class EventOutbox {
  #queue: NewEvent[] = [];
  #patch: SessionPatch | undefined;
  #running: Promise<void> | undefined;
  #counter: number;

  constructor(
    private readonly session: SessionRef,
    counter: number,
    private readonly recordEvents: RecordEvents,
    private readonly onWriteFailure?: OnWriteFailure,
  ) {
    this.#counter = counter;
  }

  /** The next key number: carried into the next run. */
  get counter(): number {
    return this.#counter;
  }

  /** Queues an event; `extra` rows (a gate, an audit entry) are written in the same transaction. */
  push(type: EventType, data: Record<string, unknown>, extra: Pick<NewEvent, 'gate' | 'approval'> = {}): void {
    this.#queue.push({ ...this.reserve(type, data), ...extra });
    this.#kick();
  }

  /**
   * An event under the next key, not queued: the caller hands it to an activity that writes it with its own
   * records (a step's tool decisions ride with its first tool activity), one activity fewer than a write of its own.
   */
  reserve(type: EventType, data: Record<string, unknown>): NewEvent {
    return { key: eventKey(EVENT_KEY_SOURCES.workflow, this.#counter++), type, data };
  }

  /** Reserved events whose activity did not get to write them (cancelled, failed): queued as they are; a key already stored is a no-op. */
  resend(events: readonly NewEvent[]): void {
    this.#queue.push(...events);
    this.#kick();
  }

  /** Merged into the next write of the session row. */
  patch(patch: SessionPatch): void {
    this.#patch = { ...this.#patch, ...patch };
    this.#kick();
  }

  /** Resolves when everything pushed so far is stored. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = CancellationScope.nonCancellable(() => this.#drain()).finally(() => {
      this.#running = undefined;
      // Pushed after the drain's last look at the queue but before this callback
      // (both resolved in one activation, as after a worker's crash): drain
      // again, or flush() would return with the event still queued. Histories
      // recorded before this fix replay without the extra write.
      if ((this.#queue.length > 0 || this.#patch) && patched(OUTBOX_REDRAIN_PATCH)) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#patch) {
      const events = this.#queue.splice(0);
      const patch = this.#patch;
      this.#patch = undefined;
      try {
        await this.recordEvents({ session: this.session, events, ...(patch ? { patch } : {}) });
      } catch (err) {
        // Caught here, not by a wrapper around recordEvents: a wrapper's extra promise tick would reorder
        // commands of recorded histories. Uncaught, the background write's rejection would fail every
        // workflow task and the session would never end.
        if (!this.onWriteFailure) throw err;
        this.onWriteFailure(err);
      }
    }
  }
}

import { Context } from '@temporalio/activity';
import { HEARTBEAT_EVERY_MS } from '../config/index.js';

/**
 * When a long activity's first heartbeat goes out: after `everyMs`, or after half its heartbeat timeout where that
 * is shorter, so that a late start on the worker still beats before the server's deadline.
 */
export function firstHeartbeatMs(everyMs: number, heartbeatTimeoutMs: number | undefined): number {
  return heartbeatTimeoutMs ? Math.min(everyMs, Math.floor(heartbeatTimeoutMs / 2)) : everyMs;
}

/**
 * Runs `work` while heartbeating every few seconds, so that Temporal notices a
 * dead worker after the heartbeat timeout instead of the whole start-to-close
 * timeout, and so that a cancellation reaches the activity.
 *
 * No beat at the start: the server times a heartbeat timeout from the attempt's
 * start until a first beat comes (service/history/workflow/timer_sequence.go),
 * and every beat it takes is a write of the workflow's mutable state
 * (recordactivitytaskheartbeat). A beat at the start cost every quick model call
 * and tool call, nearly all of them, a write of its own (issue 16).
 */
export async function withHeartbeat<T>(work: () => Promise<T>, everyMs = HEARTBEAT_EVERY_MS): Promise<T> {
  const ctx = Context.current();
  let interval: ReturnType<typeof setInterval> | undefined;
  const first = setTimeout(() => {
    ctx.heartbeat();
    interval = setInterval(() => ctx.heartbeat(), everyMs);
  }, firstHeartbeatMs(everyMs, ctx.info.heartbeatTimeoutMs));
  try {
    return await work();
  } finally {
    clearTimeout(first);
    clearInterval(interval);
  }
}

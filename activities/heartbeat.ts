import { Context } from '@temporalio/activity';
import { HEARTBEAT_EVERY_MS } from '../config/index.js';

/**
 * Runs `work` while heartbeating every few seconds, so that Temporal notices a
 * dead worker after the heartbeat timeout instead of the whole start-to-close
 * timeout, and so that a cancellation reaches the activity.
 */
export async function withHeartbeat<T>(work: () => Promise<T>, everyMs = HEARTBEAT_EVERY_MS): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

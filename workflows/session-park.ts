/**
 * Parked sandboxes: a session that holds a sandbox and waits on people (an
 * approval gate, a follow-up message after its answer) for longer than
 * `tuning.sandboxParkAfterMs` gives it back. The host saves the workspace as
 * an artifact of the session and releases the container, so its pool slot
 * (SANDBOX_POOL_MAX_TOTAL) and the tenant's sandbox quota serve sessions that
 * run; the next tool call claims a sandbox again with the workspace restored
 * (activities/sandbox-activities.ts parkSandbox, claimSandbox `resume`).
 * What a park cannot keep it does not take: a sandbox in which a process the
 * session started still runs (a server, a browser) is kept, and so is one
 * whose policy can grant hosts at run time (grants die with the container).
 */
import { condition, isCancellation, patched } from '@temporalio/workflow';
import { PARK_OPTIONS } from './session-activities.js';
import { SANDBOX_PARK_PATCH } from './session-patches.js';
import type { SessionState } from './session-state.js';

/**
 * After how long a wait of up to `timeoutMs` (undefined: no limit) parks the session's sandbox; undefined when it
 * never does: no sandbox held, parking off, a wait that ends first, hosts grantable, or a session recorded before.
 */
export function parkDelay(s: SessionState, timeoutMs: number | undefined): number | undefined {
  const after = s.input.tuning?.sandboxParkAfterMs ?? 0;
  if (!s.lease || after <= 0) return undefined;
  if (timeoutMs !== undefined && timeoutMs <= after) return undefined;
  if ((s.policy.network.approve ?? []).length > 0) return undefined;
  return patched(SANDBOX_PARK_PATCH) ? after : undefined;
}

/** While `waiting()` holds: after `after` ms the sandbox is parked (once). */
export async function parkWhile(s: SessionState, waiting: () => boolean, after: number): Promise<void> {
  if (await condition(() => !waiting(), after)) return;
  const held = s.lease;
  if (!held) return;
  // Counted before the activity: a park that saved and then failed must not lend its ref (and stale tarball) to the next.
  s.parks += 1;
  const ref = `workspace:park-${s.parks}`;
  try {
    const result = await s.activities.onHost(held, PARK_OPTIONS).parkSandbox({ session: s.session, ref });
    if (!result.parked) {
      s.outbox.push('sandbox.park_refused', { containerId: held.containerId, hostId: held.hostId, reason: result.reason });
      return;
    }
    s.parked = { sha256: result.sha256, bytes: result.bytes };
    s.dropSandbox();
    s.outbox.push('sandbox.parked', { containerId: held.containerId, hostId: held.hostId, ref, workspace: { sha256: result.sha256, bytes: result.bytes } });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // The host did not answer (gone, or its retries spent): the session keeps its lease; a lost sandbox shows at the next call.
    s.outbox.push('sandbox.park_refused', { containerId: held.containerId, hostId: held.hostId, reason: (err as Error).message });
  }
}

/** condition(done, timeoutMs) that parks the sandbox after `after` ms of it. */
export async function waitParking(s: SessionState, done: () => boolean, timeoutMs: number, after: number): Promise<boolean> {
  const [got] = await Promise.all([condition(done, timeoutMs), parkWhile(s, () => !done(), after)]);
  return got;
}

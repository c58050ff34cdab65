/**
 * The tenant's cap on sandboxes held at once, applied at claim: the claim
 * records a lease in Postgres (counted across hosts, under a per-tenant lock)
 * or waits for one of the tenant's sandboxes to be released, then fails
 * retryably so that Temporal tries again within the claim's budget.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db/client.js';
import { admitSandbox, readTenantLimits, type TenantLimits } from '../db/tenant-limits.js';

/** How long one claim attempt waits for a slot (the claim activity's start-to-close is 2 minutes). */
export const TENANT_SANDBOX_WAIT_MS = 60_000;
const POLL_MS = 1_000;

export async function admitTenantSandbox(
  db: Db,
  defaults: TenantLimits,
  session: { tenantId: string; sessionId: string },
  waitMs = TENANT_SANDBOX_WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { sandboxes } = await readTenantLimits(db, session.tenantId, defaults);
    const admission = await admitSandbox(db, session, sandboxes);
    if (admission.admitted) return;
    if (Date.now() >= deadline) {
      throw ApplicationFailure.create({
        type: 'TenantSandboxLimit',
        message: `tenant ${session.tenantId} holds ${admission.held} sandboxes (the most is ${admission.limit}); the claim waits for one to be released`,
        nextRetryDelay: '5s',
      });
    }
    // Rejects when the activity is cancelled (the session was cancelled while it waited).
    await Context.current().sleep(POLL_MS);
  }
}

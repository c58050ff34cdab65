/**
 * The session's own writes in db/ name its tenant: given another tenant's id, a session's lease, egress
 * grants and row are not touched, even with the right session id (issue 11, the tenant in every query).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../db/client.js';
import { deleteEgressGrants, egressGrantsFor, insertEgressGrant } from '../../db/egress-grants.js';
import { createSessionRow, failUnstartedSession } from '../../db/session-records.js';
import { admitSandbox, endSandboxLease } from '../../db/tenant-limits.js';
import { createTenant } from '../../db/tenants.js';

let db: Db;
beforeAll(() => {
  db = createDb({ url: inject('services').databaseUrl });
});
afterAll(async () => {
  await db?.destroy();
});

describe('a session of one tenant, named with another tenant', () => {
  it('keeps its sandbox lease, its egress grants and its row', async () => {
    const [owner, other] = [`t-own-${randomUUID()}`, `t-other-${randomUUID()}`];
    for (const id of [owner, other]) await createTenant(db, { id });
    const sessionId = `ses_${randomUUID()}`;
    const containerId = `c-${randomUUID()}`;
    const newRow = { id: sessionId, tenantId: owner, agent: 'a', requester: 'alice', policyName: 'p', policyHash: 'h', model: null, metadata: {}, createdAt: new Date().toISOString() };
    // The insert answers the row as stored (POST /v1/sessions answers with it), and nothing when the id exists.
    expect(await createSessionRow(db, newRow)).toMatchObject({ id: sessionId, tenant_id: owner, status: 'running', policy_hash: 'h', ended_at: null });
    expect(await createSessionRow(db, { ...newRow, tenantId: other })).toBeUndefined();
    expect(await admitSandbox(db, { tenantId: owner, sessionId }, 5)).toEqual({ admitted: true });
    await insertEgressGrant(db, { tenantId: owner, sessionId, containerId, host: 'example.com', grantedBy: 'policy', gate: null });
    const lease = () => db.selectFrom('sandbox_leases').select('tenant_id').where('session_id', '=', sessionId).executeTakeFirst();
    const row = () => db.selectFrom('sessions').select(['status', 'error']).where('id', '=', sessionId).executeTakeFirstOrThrow();

    const wrong = { tenantId: other, sessionId };
    await endSandboxLease(db, wrong);
    await deleteEgressGrants(db, wrong);
    await failUnstartedSession(db, other, sessionId, 'not yours');
    expect(await lease()).toEqual({ tenant_id: owner });
    expect(await egressGrantsFor(db, [containerId])).toHaveLength(1);
    expect(await row()).toEqual({ status: 'running', error: null });

    const right = { tenantId: owner, sessionId };
    await endSandboxLease(db, right);
    await deleteEgressGrants(db, right);
    await failUnstartedSession(db, owner, sessionId, 'could not start');
    expect(await lease()).toBeUndefined();
    expect(await egressGrantsFor(db, [containerId])).toEqual([]);
    expect(await row()).toEqual({ status: 'failed', error: 'could not start' });
  });
});

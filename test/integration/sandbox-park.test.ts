/**
 * Parked sandboxes end to end (workflows/session-park.ts): real Temporal, Docker, Postgres and artifact
 * store, votes through the API's Update path. A session that waits on a gate longer than
 * SESSION_SANDBOX_PARK_AFTER gives its container (and its pool slot) back with its workspace saved; the
 * approved call runs in a new sandbox with the files restored, links as links. A process left running in
 * the background keeps the sandbox, and the session says why.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { containersOf, eventsOfType, startSession, toolResults, vote, waitForEvent, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;

beforeAll(async () => {
  // A pool of one: a parked session's slot is what lets the second session run at all while the first waits.
  stack = await startStack(inject('services'), { env: { SESSION_SANDBOX_PARK_AFTER: '1s', SANDBOX_POOL_MAX_TOTAL: '1', SANDBOX_POOL_MIN_IDLE: '1' } });
});
afterAll(async () => {
  await stack?.close();
});

async function approve(sessionId: string, gateId: string) {
  for (const who of ['bob', 'carol'] as const) expect((await vote(stack, sessionId, gateId, who)).status).toBe(200);
}

describe('a sandbox parked while its session waits on a gate', () => {
  it('gives the container back, lets another session use the slot, and restores the workspace for the approved call', async () => {
    const session = await startSession(stack, { message: 'park me', metadata: { scenario: 'park-gate' } });
    const gate = await waitForGate(stack, session.id);
    const parked = await waitForEvent(stack, session.id, 'sandbox.parked');
    expect(parked).toMatchObject({ ref: 'workspace:park-1', workspace: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(await containersOf(stack, session.id)).toHaveLength(0);
    const refs = await stack.db.selectFrom('artifacts').select(['ref', 'kind', 'sha256']).where('session_id', '=', session.id).execute();
    expect(refs).toContainEqual({ ref: 'workspace:park-1', kind: 'workspace', sha256: (parked as { workspace: { sha256: string } }).workspace.sha256 });

    // With the pool of one given back, another session runs a command to its end while the first still waits.
    const other = await startSession(stack, { message: 'say hello from the sandbox' });
    expect((await waitForStatus(stack, other.id)).status).toBe('completed');

    await approve(session.id, gate.id);
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('completed');
    const results = await toolResults(stack, session.id);
    expect(results[1]).toMatchObject({ ok: true, exit_code: 0 });
    // The file and the link (restored as a link, not followed) came back in the new sandbox.
    expect(results[1]?.stdout).toBe('kept\n../note.txt\n');
    const claims = await eventsOfType(stack, session.id, 'sandbox.claimed');
    expect(claims).toHaveLength(2);
    expect(claims[1]).toMatchObject({ resumed: (parked as { workspace: { sha256: string } }).workspace.sha256 });
    // Restored and used, the parked tarball expires (the maintenance pass deletes it); the final workspace stays.
    const rows = await stack.db.selectFrom('artifacts').select(['ref', 'expires_at']).where('session_id', '=', session.id).where('kind', '=', 'workspace').execute();
    expect(rows.find((r) => r.ref === 'workspace:park-1')?.expires_at?.getTime()).toBeLessThanOrEqual(Date.now());
    const final = rows.find((r) => r.ref === 'workspace');
    expect(final).toBeDefined();
    expect((final?.expires_at?.getTime() ?? Infinity) > Date.now()).toBe(true);
    expect(await containersOf(stack, session.id)).toHaveLength(0);
  });
});

describe('a sandbox a park would not keep whole', () => {
  it.each([
    // A process left running in the background would die with the container.
    ['park-keep', 'sleep 300'],
    // An absolute link (a Python venv has them) is refused by the restore, so the saved tarball could not come back.
    ['park-abs-link', 'would not restore in a new sandbox'],
  ])('is kept (%s): the park is refused saying why, and the approved call runs in the same container', async (scenario, why) => {
    const session = await startSession(stack, { message: 'keep me', metadata: { scenario } });
    const gate = await waitForGate(stack, session.id);
    const refused = await waitForEvent(stack, session.id, 'sandbox.park_refused');
    expect(String((refused as { reason: string }).reason)).toContain(why);
    const before = await containersOf(stack, session.id);
    expect(before).toHaveLength(1);
    await approve(session.id, gate.id);
    expect((await waitForStatus(stack, session.id)).status).toBe('completed');
    expect(await eventsOfType(stack, session.id, 'sandbox.parked')).toHaveLength(0);
    expect(await eventsOfType(stack, session.id, 'sandbox.claimed')).toHaveLength(1);
    expect((await toolResults(stack, session.id))[1]).toMatchObject({ ok: true, stdout: 'removed\n' });
  });
});

describe('sandboxes parked for a waiting claim (SANDBOX_POOL_EVICT_IDLE)', () => {
  let pressed: Stack;
  beforeAll(async () => {
    // One sandbox for two sessions whose model takes 1.5 s a step: each claim waits while the other session's
    // sandbox sits idle, so the pool parks it; every step's line count shows the workspace followed its session.
    pressed = await startStack(inject('services'), { env: { SANDBOX_POOL_MAX_TOTAL: '1', SANDBOX_POOL_MIN_IDLE: '1', SANDBOX_POOL_EVICT_IDLE: '300ms' } });
  });
  afterAll(async () => {
    await pressed?.close();
  });

  it('moves each session between the one sandbox with its files, no step run twice or lost', async () => {
    const ids = await Promise.all([0, 1].map(async () => (await startSession(pressed, { message: 'go', metadata: { scenario: 'slow-steps' } })).id));
    for (const id of ids) {
      const done = await waitForStatus(pressed, id, undefined, 120_000);
      expect(done.status).toBe('completed');
      const results = await toolResults(pressed, id);
      // Each call appends a line and prints the count: a lost workspace restarts at 1, a repeated call skips one.
      expect(results.map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n']);
      expect(await containersOf(pressed, id)).toHaveLength(0);
    }
    const moves = (await Promise.all(ids.map((id) => eventsOfType(pressed, id, 'sandbox.parked')))).flat();
    expect(moves.length).toBeGreaterThan(0);
    for (const m of moves) expect(m).toMatchObject({ by: 'pool', workspace: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    // Every move claimed again with the parked workspace restored.
    const claims = (await Promise.all(ids.map((id) => eventsOfType(pressed, id, 'sandbox.claimed')))).flat();
    expect(claims.filter((c) => typeof c.resumed === 'string')).toHaveLength(moves.length);
    // Each tarball a claim restored (and a call then used) expires: moves do not pile up in the tenant's quota.
    const resumed = new Set(claims.map((c) => c.resumed).filter((sha): sha is string => typeof sha === 'string'));
    const parkedRows = await pressed.db.selectFrom('artifacts').select(['sha256', 'expires_at']).where('session_id', 'in', ids).where('ref', 'like', 'workspace:evicted:%').execute();
    expect(parkedRows.length).toBeGreaterThanOrEqual(resumed.size);
    for (const row of parkedRows.filter((r) => resumed.has(r.sha256))) expect(row.expires_at?.getTime()).toBeLessThanOrEqual(Date.now());
  });
});

/**
 * N-of-M approval gates with roles, the approvals inbox, the audit table,
 * tenant policies, and Slack: a Block Kit message with buttons posted to a
 * local fake Slack, signed clicks that vote, and the message kept up to date.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { FakeSlack, signedClick } from '../support/fake-slack.js';
import { getSession, json, readAllEvents, startSession, toolResults, vote, waitForClosed, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, waitFor, type Stack, type Who } from '../support/stack.js';

const SIGNING_SECRET = 'test-signing-secret-0123456789';
const slack = new FakeSlack();
let stack: Stack;

interface ErrorJson {
  error: { code: string; message: string };
}
interface InboxJson {
  data: { sessionId: string; gateId: string; canApprove: boolean; missingRoles?: string[]; approvals: { approver: string }[]; status: string }[];
}

beforeAll(async () => {
  await slack.start();
  const users = join(mkdtempSync(join(tmpdir(), 'kortix-slack-users-')), 'users.yaml');
  writeFileSync(
    users,
    ['users:', '  U0BOB: { tenant: acme, principal: bob, roles: [admin] }', '  U0CAROL: { tenant: acme, principal: carol, roles: [security] }', ''].join('\n'),
  );
  stack = await startStack(inject('services'), {
    tenantId: 'acme',
    policiesDir: resolve(REPO_ROOT, 'test/fixtures/policies'),
    env: {
      SLACK_API_URL: slack.url,
      SLACK_BOT_TOKEN: 'xoxb-test-token',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_USERS_FILE: users,
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await slack.close();
});

async function inbox(who: Who, query = ''): Promise<InboxJson['data']> {
  const res = await stack.api('GET', `/v1/approvals${query}`, who);
  expect(res.status).toBe(200);
  return (await json<InboxJson>(res)).data;
}

function click(slackUser: string, action: 'approve' | 'reject', sessionId: string, gateId: string, timestamp?: number) {
  const { body, headers } = signedClick(SIGNING_SECRET, { slackUser, action, sessionId, gateId }, timestamp);
  return stack.app.request('/v1/integrations/slack/interactions', { method: 'POST', body, headers });
}

describe('a gate that needs an admin and a security approver', () => {
  let id: string;
  let gateId: string;

  it('opens with its roles, in the inbox of those who may act', async () => {
    id = (await startSession(stack, { message: 'delete the scratch file', policy: 'roles', metadata: { scenario: 'walkthrough' } })).id;
    const gate = await waitForGate(stack, id);
    gateId = gate.id;
    expect(gate).toMatchObject({ required: 2, roles: ['admin', 'security'], missingRoles: ['admin', 'security'], slackChannel: '#approvals' });
    await waitFor(async () => (await inbox('bob')).some((g) => g.gateId === gateId), 10_000, 'the gate in the inbox');
    expect((await inbox('alice')).map((g) => g.gateId)).not.toContain(gateId);
    const all = await inbox('alice', '?status=all');
    expect(all.find((g) => g.gateId === gateId)).toMatchObject({ canApprove: false, status: 'open' });
  });

  it('takes an admin, refuses a second admin, and closes on the security approver', async () => {
    expect(await json(await vote(stack, id, gateId, 'bob'))).toMatchObject({ counted: true, gate: { status: 'open', missingRoles: ['security'] } });
    // The inbox reads the gate's row, which follows the workflow's state a moment later.
    await waitFor(async () => !(await inbox('bob')).some((g) => g.gateId === gateId), 10_000, "the gate to leave bob's inbox");
    expect((await inbox('dave')).map((g) => g.gateId)).not.toContain(gateId);
    expect((await inbox('carol')).map((g) => g.gateId)).toContain(gateId);

    const daveVote = await vote(stack, id, gateId, 'dave');
    expect(daveVote.status).toBe(403);
    expect(await json<ErrorJson>(daveVote)).toMatchObject({ error: { code: 'role_required' } });

    expect(await json(await vote(stack, id, gateId, 'carol'))).toMatchObject({ counted: true, gate: { status: 'approved' } });
    const done = await waitForStatus(stack, id);
    expect(done.finalAnswer).toContain('cache cleared');
  });

  it('audits every decision, the refused ones too', async () => {
    const rows = await stack.db
      .selectFrom('approvals')
      .select(['approver', 'channel', 'decision', 'outcome', 'roles', 'tool_call_hash'])
      .where('session_id', '=', id)
      .orderBy('id')
      .execute();
    expect(rows.map((r) => [r.approver, r.outcome])).toEqual([
      ['bob', 'counted'],
      ['dave', 'refused:role_required'],
      ['carol', 'closed-the-gate'],
    ]);
    expect(rows[0]?.roles).toEqual(['admin']);
    expect(new Set(rows.map((r) => r.tool_call_hash)).size).toBe(1);
    expect(rows[0]?.tool_call_hash).toMatch(/^[0-9a-f]{64}$/);
    const gateRow = await stack.db.selectFrom('gates').selectAll().where('session_id', '=', id).executeTakeFirstOrThrow();
    expect(gateRow).toMatchObject({ status: 'approved', required: 2 });
    expect(gateRow.closed_at).not.toBeNull();
  });

  it('posted the gate to Slack with buttons, and updated it after each vote', async () => {
    const posts = slack.ok('chat.postMessage').filter((c) => JSON.stringify(c.body.blocks).includes(id));
    expect(posts).toHaveLength(1);
    expect(posts[0]?.body.channel).toBe('#approvals');
    expect(posts[0]?.authorization).toBe('Bearer xoxb-test-token');
    expect(JSON.stringify(posts[0]?.body.blocks)).toContain('"action_id":"approve"');
    const updates = await waitFor(
      () => {
        const u = slack.ok('chat.update').filter((c) => JSON.stringify(c.body.blocks).includes(id));
        return u.some((c) => JSON.stringify(c.body.blocks).includes('Approved')) ? u : undefined;
      },
      20_000,
      'the message to show the approval',
    );
    const last = updates.at(-1);
    expect(JSON.stringify(last?.body.blocks)).not.toContain('"action_id":"approve"');
    expect(JSON.stringify(last?.body.blocks)).toContain('carol (security) via api');
  });
});

describe('Slack buttons', () => {
  it('two Slack users approve; a repeated click does not count; the message follows', async () => {
    const id = (await startSession(stack, { message: 'clean up the build cache', policy: 'roles' })).id;
    const gate = await waitForGate(stack, id);
    await waitFor(() => slack.ok('chat.postMessage').some((c) => JSON.stringify(c.body.blocks).includes(id)), 20_000, 'the post');

    const first = await click('U0BOB', 'approve', id, gate.id);
    expect(first.status).toBe(200);
    expect(await json(first)).toMatchObject({ ok: true, counted: true, status: 'open' });
    expect(await json(await click('U0BOB', 'approve', id, gate.id))).toMatchObject({ ok: true, counted: false });
    expect(await json(await click('U0CAROL', 'approve', id, gate.id))).toMatchObject({ ok: true, counted: true, status: 'approved' });

    const done = await waitForStatus(stack, id);
    expect(done.status).toBe('completed');
    const events = await readAllEvents(stack, id);
    expect(events.filter((e) => e.type === 'approval.vote').map((e) => [e.data.approver, e.data.channel, e.data.counted])).toEqual([
      ['bob', 'slack', true],
      ['bob', 'slack', false],
      ['carol', 'slack', true],
    ]);
    await waitFor(
      () => slack.ok('chat.update').some((c) => JSON.stringify(c.body.blocks).includes(id) && JSON.stringify(c.body.blocks).includes('Approved')),
      20_000,
      'the final update',
    );
  });

  it('a reject from Slack denies the call', async () => {
    const id = (await startSession(stack, { message: 'clean up the build cache', policy: 'roles' })).id;
    const gate = await waitForGate(stack, id);
    expect(await json(await click('U0CAROL', 'reject', id, gate.id))).toMatchObject({ ok: true, status: 'rejected' });
    const done = await waitForStatus(stack, id);
    expect(done.status).toBe('completed');
    expect((await toolResults(stack, id))[0]).toMatchObject({ ok: false, denied: true, error: expect.stringContaining('rejected by carol') });
  });

  it('refuses bad signatures, stale timestamps, replays and unknown users', async () => {
    const id = (await startSession(stack, { message: 'clean up the build cache', policy: 'roles' })).id;
    const gate = await waitForGate(stack, id);

    const forged = signedClick('not-the-secret', { slackUser: 'U0BOB', action: 'approve', sessionId: id, gateId: gate.id });
    const bad = await stack.app.request('/v1/integrations/slack/interactions', { method: 'POST', body: forged.body, headers: forged.headers });
    expect(bad.status).toBe(401);
    expect(await json<ErrorJson>(bad)).toMatchObject({ error: { code: 'bad_signature' } });

    const stale = await click('U0BOB', 'approve', id, gate.id, Math.floor(Date.now() / 1000) - 6 * 60);
    expect(stale.status).toBe(401);
    expect(await json<ErrorJson>(stale)).toMatchObject({ error: { code: 'stale_timestamp' } });

    const unknown = await click('U0NOBODY', 'approve', id, gate.id);
    expect(await json(unknown)).toMatchObject({ ok: false, error: 'unknown_slack_user' });

    const request = signedClick(SIGNING_SECRET, { slackUser: 'U0BOB', action: 'approve', sessionId: id, gateId: gate.id });
    const once = await stack.app.request('/v1/integrations/slack/interactions', { method: 'POST', body: request.body, headers: request.headers });
    expect(await json(once)).toMatchObject({ ok: true, counted: true });
    const replay = await stack.app.request('/v1/integrations/slack/interactions', { method: 'POST', body: request.body, headers: request.headers });
    expect(replay.status).toBe(401);
    expect(await json<ErrorJson>(replay)).toMatchObject({ error: { code: 'replayed' } });

    // None of the refused clicks counted: only bob's one approval is on the gate (read once the gate's row shows
    // a vote: a Slack click is answered when the workflow took it, before its write).
    const approvers = await waitFor(async () => {
      const names = (await getSession(stack, id)).pendingApprovals[0]?.approvals.map((a) => a.approver) ?? [];
      return names.length > 0 && names;
    }, 10_000, "bob's vote on the gate");
    expect(approvers).toEqual(['bob']);
    await stack.api('POST', `/v1/sessions/${id}/cancel`, 'alice', {});
    await waitForStatus(stack, id);
  });

  it('a Slack outage does not block the gate: API approvals still work', async () => {
    slack.down = true;
    try {
      const id = (await startSession(stack, { message: 'clean up the build cache', policy: 'roles' })).id;
      const gate = await waitForGate(stack, id);
      await waitFor(() => slack.calls.some((c) => c.failed && c.method === 'chat.postMessage'), 20_000, 'a failed post');
      expect((await vote(stack, id, gate.id, 'bob')).status).toBe(200);
      expect((await vote(stack, id, gate.id, 'carol')).status).toBe(200);
      const done = await waitForStatus(stack, id);
      expect(done.status).toBe('completed');
    } finally {
      slack.down = false;
    }
  });

  it('a slow Slack: the message shows the approval by the time the session has ended', async () => {
    slack.latencyMs = 2500;
    try {
      const id = (await startSession(stack, { message: 'clean up the build cache', policy: 'roles' })).id;
      const gate = await waitForGate(stack, id);
      await waitFor(() => slack.ok('chat.postMessage').some((c) => JSON.stringify(c.body.blocks).includes(id)), 20_000, 'the post');
      // Bob's update is still on its way when carol's vote closes the gate and the session runs to its end.
      expect((await vote(stack, id, gate.id, 'bob')).status).toBe(200);
      expect((await vote(stack, id, gate.id, 'carol')).status).toBe(200);
      expect((await waitForStatus(stack, id)).status).toBe('completed');
      expect(await waitForClosed(stack, id)).toBe('COMPLETED');
      const updates = slack.ok('chat.update').filter((c) => JSON.stringify(c.body.blocks).includes(id));
      const last = JSON.stringify(updates.at(-1)?.body.blocks);
      expect(last).toContain('Approved');
      expect(last).not.toContain('"action_id":"approve"');
    } finally {
      slack.latencyMs = 0;
    }
  });
});

describe('more gates', () => {
  it('several gates are open at once for parallel tool calls', async () => {
    const id = (await startSession(stack, { message: 'clean both caches', policy: 'roles' })).id;
    const gates = await waitFor(async () => {
      const pending = (await getSession(stack, id)).pendingApprovals;
      return pending.length === 2 ? pending : undefined;
    }, 20_000, 'two gates');
    const [a, b] = gates;
    if (!a || !b) throw new Error('two gates expected');
    const listed = await waitFor(async () => {
      const mine = (await inbox('bob')).filter((g) => g.sessionId === id);
      return mine.length === 2 ? mine : undefined;
    }, 10_000, 'both gates in the inbox');
    expect(listed.map((g) => g.gateId).sort()).toEqual([a.id, b.id].sort());
    await vote(stack, id, a.id, 'bob');
    await vote(stack, id, a.id, 'carol');
    await vote(stack, id, b.id, 'carol', 'reject');
    const done = await waitForStatus(stack, id);
    expect(done.status).toBe('completed');
    const results = await toolResults(stack, id);
    expect(results[0]).toMatchObject({ ok: true, stdout: 'removed a\n' });
    expect(results[1]).toMatchObject({ ok: false, denied: true });
  });

  it('an excluded approver is refused, and a timeout can fail the session', async () => {
    const id = (await startSession(stack, { message: 'delete the scratch file', policy: 'roles', limits: { approvalTimeoutSeconds: 2 } })).id;
    const gate = await waitForGate(stack, id);
    const dave = await vote(stack, id, gate.id, 'dave');
    expect(dave.status).toBe(403);
    expect(await json<ErrorJson>(dave)).toMatchObject({ error: { code: 'approver_excluded' } });
    const done = await waitForStatus(stack, id);
    expect(done.status).toBe('failed');
    expect(done.error).toContain('timed out');
  });

  it("a tenant's own policy applies to that tenant only", async () => {
    const res = await stack.api('POST', '/v1/sessions', 'alice', { message: 'curl https://example.com', policy: 'acme-only', metadata: { scenario: 'default' } });
    expect(res.status).toBe(201);
    const other = await stack.api('POST', '/v1/sessions', 'mallory', { message: 'x', policy: 'acme-only' });
    expect(other.status).toBe(400);
    expect(await json<ErrorJson>(other)).toMatchObject({ error: { code: 'unknown_policy' } });
  });
});

describe('what approvers see', () => {
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  interface Shown {
    arguments: { command: string };
    display: { text: string; sha256: string; bytes: number; flags: string[] };
  }

  it('the inbox and Slack show the whole command, its sha256, flags, and hidden characters made visible', async () => {
    const command = 'rm -f /workspace/\u202Egnp.sh && echo "<b>&amp;</b>" # \u200B';
    const id = (await startSession(stack, { message: command, policy: 'roles', metadata: { scenario: 'shell-from-message' } })).id;
    const gate = await waitForGate(stack, id);
    const listed = await waitFor(async () => (await inbox('bob')).find((g) => g.gateId === gate.id), 10_000, 'the gate in the inbox');
    expect((listed as unknown as Shown).arguments.command).toBe(command);
    expect((listed as unknown as Shown).display).toEqual({
      text: 'rm -f /workspace/<U+202E>gnp.sh && echo "<b>&amp;</b>" # <U+200B>',
      sha256: sha256(command),
      bytes: Buffer.byteLength(command),
      flags: ['non_ascii', 'bidi', 'zero_width'],
    });

    const post = await waitFor(() => slack.ok('chat.postMessage').find((c) => JSON.stringify(c.body.blocks).includes(id)), 20_000, 'the post');
    const blocks = JSON.stringify(post.body.blocks);
    expect(blocks).toContain(sha256(command));
    expect(blocks).toContain('rm -f /workspace/&lt;U+202E&gt;gnp.sh &amp;&amp; echo \\"&lt;b&gt;&amp;amp;&lt;/b&gt;\\" # &lt;U+200B&gt;');
    expect(blocks).toContain('contains non-ascii, bidi, zero-width characters');
    expect(blocks).not.toMatch(/[\u202E\u200B]/);
    await stack.api('POST', `/v1/sessions/${id}/cancel`, 'alice', {});
    await waitForStatus(stack, id);
  });

  it('a command too long for the message goes to Slack as a file (files.uploadV2), whole', async () => {
    const command = `rm -f /workspace/x${'\u200B'.repeat(2_000)}`;
    const id = (await startSession(stack, { message: command, policy: 'roles', metadata: { scenario: 'shell-from-message' } })).id;
    const gate = await waitForGate(stack, id);
    const upload = await waitFor(() => slack.uploads.find((u) => u.filename === `${gate.id}.txt` && u.channel && u.title?.includes(sha256(command))), 20_000, 'the upload');
    expect(upload.content).toBe(`rm -f /workspace/x${'<U+200B>'.repeat(2_000)}`);
    await stack.api('POST', `/v1/sessions/${id}/cancel`, 'alice', {});
    await waitForStatus(stack, id);
  });
});

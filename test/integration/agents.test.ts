/**
 * The Agent Builder on the real stack: an agent from a template, edited into
 * new immutable versions, diffed, promoted (a tighter version at once, a
 * looser one only through a two-approver gate the requester cannot answer),
 * rolled back; sessions pin the version `@production` named when they
 * started (row, workflow input, the KortixAgentVersion search attribute).
 * A promotion whose policy names a Slack channel is posted there and takes
 * a click (the fake Slack of the approvals test).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AgentSpec } from '../../agents/schema.js';
import { REPO_ROOT } from '../../config/index.js';
import { setTenantPolicySettings } from '../../db/tenant-policy-settings.js';
import { closeServer, listen } from '../../observability/health-server.js';
import { FakeSlack, signedClick } from '../support/fake-slack.js';
import { json, startSession as startAny, waitForStatus, type SessionJson } from '../support/sessions.js';
import { startStack, waitFor, type Stack, type Who } from '../support/stack.js';

let stack: Stack;
const slack = new FakeSlack();
const SIGNING_SECRET = 'agents-test-signing-secret';
const tenantId = `agents-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  await slack.start();
  // The repo's templates, plus a tenant policy that posts its gates to Slack.
  const dir = mkdtempSync(join(tmpdir(), 'kortix-agents-'));
  cpSync(resolve(REPO_ROOT, 'policies/templates'), join(dir, 'policies/templates'), { recursive: true });
  mkdirSync(join(dir, 'policies/tenants', tenantId), { recursive: true });
  writeFileSync(join(dir, 'policies/tenants', tenantId, 'notified.yaml'), "name: notified\nextends: strict\napproval:\n  slack: { channel: '#agent-releases' }\n");
  writeFileSync(join(dir, 'users.yaml'), `users:\n  U0BOB: { tenant: ${tenantId}, principal: bob, roles: [admin] }\n`);
  stack = await startStack(inject('services'), {
    tenantId,
    policiesDir: join(dir, 'policies'),
    env: { SLACK_API_URL: slack.url, SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_USERS_FILE: join(dir, 'users.yaml') },
  });
});
afterAll(async () => {
  await stack?.close();
  await slack.close();
});

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}
interface VersionJson {
  sha: string;
  number: number;
  spec: AgentSpec;
  created?: boolean;
}
interface MoveJson {
  moved: boolean;
  pending: boolean;
  risky: boolean;
  reasons: { path: string; why: string }[];
  promotion?: { id: string; status: string; links: { approve: string; self: string } };
}

/** A session as POST /v1/sessions answers, with the agent version it pinned. */
async function startSession(on: Stack, body: Record<string, unknown>): Promise<SessionJson & { agent: string; agentVersion: string | null }> {
  return (await startAny(on, body)) as SessionJson & { agent: string; agentVersion: string | null };
}

const api = (method: string, path: string, body?: unknown, who: Who = 'alice') => stack.api(method, path, who, body);

async function ok<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

async function saveVersion(spec: AgentSpec, changeNote: string): Promise<VersionJson> {
  return ok<VersionJson>(await api('POST', '/v1/agents/reviewer/versions', { spec, changeNote }), 201);
}

async function production(): Promise<string> {
  const labels = await ok<{ data: { label: string; sha: string }[] }>(await api('GET', '/v1/agents/reviewer/labels'));
  return labels.data.find((l) => l.label === 'production')?.sha ?? '';
}

/** The search attribute Temporal holds for the session. */
async function pinnedInTemporal(sessionId: string): Promise<unknown> {
  const description = await stack.temporal.workflow.getHandle(sessionId).describe();
  return description.searchAttributes.KortixAgentVersion;
}

describe('agent builder', () => {
  it('lists the template library', async () => {
    const body = await ok<{ data: { name: string; spec: AgentSpec; yaml: string }[] }>(await api('GET', '/v1/agent-templates'));
    expect(body.data.map((t) => t.name).sort()).toEqual(['ci-fixer', 'code-reviewer', 'data-analyst', 'ops-runbook', 'research-assistant', 'support-drafter']);
    expect(body.data.find((t) => t.name === 'ops-runbook')?.spec.policy).toBe('strict');
  });

  it('creates, versions, diffs, promotes through a gate, rolls back, and pins sessions to the version they started on', async () => {
    // ---- create from a template: version 1 ----
    const created = await ok<{ version: VersionJson }>(await api('POST', '/v1/agents', { slug: 'reviewer', fromTemplate: 'code-reviewer' }), 201);
    expect(created.version.number).toBe(1);
    const v1 = created.version;

    // ---- edit: version 2 (the mock model, one prompt line changed) ----
    const { requestType: _r, tier: _t, ...rest } = v1.spec;
    const lines = v1.spec.systemPrompt.split('\n');
    lines[1] = '1. List the files, then read every file that changed, tests first.';
    const v2 = await saveVersion({ ...rest, model: 'mock', systemPrompt: lines.join('\n') }, 'run on the mock model; read tests first');
    expect(v2.number).toBe(2);
    // The same content again is the same version: 200, not 201.
    const again = await ok<VersionJson>(await api('POST', '/v1/agents/reviewer/versions', { spec: { ...v2.spec }, changeNote: 'again' }), 200);
    expect(again).toMatchObject({ sha: v2.sha, number: 2, created: false });

    // ---- diff: the changed prompt line shows ----
    const diff = await ok<{ fields: { path: string; change: string }[]; prompt: string; yaml: string; risk: { risky: boolean } }>(
      await api('GET', `/v1/agents/reviewer/diff?from=v1&to=${v2.sha.slice(0, 10)}`),
    );
    expect(diff.prompt).toContain(`-${v1.spec.systemPrompt.split('\n')[1]}`);
    expect(diff.prompt).toContain('+1. List the files, then read every file that changed, tests first.');
    expect(diff.fields.map((f) => `${f.path}:${f.change}`)).toEqual(expect.arrayContaining(['model:added', 'requestType:removed', 'systemPrompt:changed']));
    expect(diff.yaml).toContain('+model: mock');
    expect(diff.risk.risky).toBe(false);

    // The first production version moves at once.
    expect(await ok<MoveJson>(await api('PUT', '/v1/agents/reviewer/labels/production', { version: 'v2', why: 'first release' }))).toMatchObject({ moved: true, pending: false });

    // ---- promote a tighter version (strict policy, lower cost): at once ----
    const v3 = await saveVersion({ ...v2.spec, policy: 'strict', limits: { ...v2.spec.limits, maxCostUsd: 1 } }, 'strict policy');
    const tighter = await ok<MoveJson>(await api('PUT', '/v1/agents/reviewer/labels/production', { version: v3.sha.slice(0, 8), why: 'tighten' }));
    expect(tighter).toMatchObject({ moved: true, pending: false, risky: false });
    expect(await production()).toBe(v3.sha);

    // A session on @production before the next move pins v3.
    const before = await startSession(stack, { agent: 'reviewer@production', message: 'review please', metadata: { scenario: 'default' } });
    expect(before).toMatchObject({ agent: 'reviewer', agentVersion: v3.sha, policy: { name: 'strict' } });
    expect(await pinnedInTemporal(before.id)).toEqual([v3.sha]);

    // ---- promote a looser version: a gate, two approvers, never the requester ----
    const v4 = await saveVersion({ ...v3.spec, network: { allow: ['pypi.org'] }, limits: { ...v3.spec.limits, maxCostUsd: 1.5 } }, 'needs pypi');
    const looser = await ok<MoveJson>(await api('PUT', '/v1/agents/reviewer/labels/production', { version: 'v4', why: 'let it read pypi' }), 202);
    expect(looser).toMatchObject({ moved: false, pending: true, risky: true });
    expect(looser.reasons.map((r) => r.path).sort()).toEqual(['limits.maxCostUsd', 'network.allow']);
    const promotion = looser.promotion;
    if (!promotion) throw new Error('no promotion in the answer');
    expect(await production()).toBe(v3.sha);

    // The gate is in the inbox of those who may approve it, not of the requester.
    const inbox = await waitFor(async () => {
      const body = await json<{ data: { promotionId?: string; reason: string }[] }>(await api('GET', '/v1/approvals', undefined, 'bob'));
      return body.data.find((g) => g.promotionId === promotion.id);
    }, 20_000, 'the promotion in the inbox');
    expect(inbox.reason).toContain('network hosts added: pypi.org');
    const alicesInbox = await json<{ data: { promotionId?: string }[] }>(await api('GET', '/v1/approvals'));
    expect(alicesInbox.data.some((g) => g.promotionId === promotion.id)).toBe(false);

    const byRequester = await api('POST', promotion.links.approve, { decision: 'approve' });
    expect(byRequester.status).toBe(403);
    expect((await json<ErrorJson>(byRequester)).error.code).toBe('requester_cannot_approve');
    const byMallory = await api('POST', promotion.links.approve, { decision: 'approve' }, 'mallory');
    expect(byMallory.status).toBe(404);

    const first = await ok<{ counted: boolean; gate: { status: string } }>(await api('POST', promotion.links.approve, { decision: 'approve' }, 'bob'));
    expect(first).toMatchObject({ counted: true, gate: { status: 'open' } });
    expect(await production()).toBe(v3.sha);
    const second = await ok<{ gate: { status: string } }>(await api('POST', promotion.links.approve, { decision: 'approve', comment: 'pypi is fine' }, 'carol'));
    expect(second.gate.status).toBe('approved');
    await waitFor(async () => (await production()) === v4.sha, 20_000, 'production to move to v4');
    const closed = await ok<{ status: string }>(await api('GET', promotion.links.self));
    expect(closed.status).toBe('approved');

    // Audited: the move (who asked, why, who approved) and every vote, the refused one too.
    const history = await ok<{ data: { from: string; to: string; movedBy: string; why: string; promotionId: string | null; approvers: string[] }[] }>(
      await api('GET', '/v1/agents/reviewer/labels/history?label=production'),
    );
    expect(history.data[0]).toMatchObject({ from: v3.sha, to: v4.sha, movedBy: 'alice', why: 'let it read pypi', promotionId: promotion.id, approvers: ['bob', 'carol'] });
    const votes = await stack.db.selectFrom('approvals').select(['approver', 'outcome']).where('tenant_id', '=', stack.tenantId).where('session_id', '=', promotion.id).orderBy('id').execute();
    expect(votes).toEqual([
      { approver: 'alice', outcome: 'refused:requester_cannot_approve' },
      { approver: 'bob', outcome: 'counted' },
      { approver: 'carol', outcome: 'closed-the-gate' },
    ]);

    // A session on @production after the move pins v4; the earlier one keeps v3.
    const after = await startSession(stack, { agent: 'reviewer@production', message: 'review again', metadata: { scenario: 'default' } });
    expect(after.agentVersion).toBe(v4.sha);
    expect(await pinnedInTemporal(after.id)).toEqual([v4.sha]);
    expect(await pinnedInTemporal(before.id)).toEqual([v3.sha]);
    expect((await waitForStatus(stack, before.id)).status).toBe('completed');
    expect((await waitForStatus(stack, after.id)).status).toBe('completed');

    // ---- roll back: tighter again, at once ----
    const rollback = await ok<MoveJson>(await api('PUT', '/v1/agents/reviewer/labels/production', { version: 'v3', why: 'rollback: pypi not needed' }));
    expect(rollback).toMatchObject({ moved: true, pending: false, risky: false });
    expect(await production()).toBe(v3.sha);
    const bare = await startSession(stack, { agent: 'reviewer', message: 'and once more', metadata: { scenario: 'default' } });
    expect(bare.agentVersion).toBe(v3.sha);
    const rows = await stack.db.selectFrom('sessions').select(['id', 'agent_version']).where('tenant_id', '=', stack.tenantId).where('id', 'in', [before.id, after.id, bare.id]).execute();
    expect(Object.fromEntries(rows.map((r) => [r.id, r.agent_version]))).toEqual({ [before.id]: v3.sha, [after.id]: v4.sha, [bare.id]: v3.sha });
    await waitForStatus(stack, bare.id);
  });

  it('posts a promotion gate to the Slack channel of its policy and takes a click from there', async () => {
    await ok(await api('POST', '/v1/agents', { slug: 'notifier', spec: { systemPrompt: 'Summarise the release notes.', tools: ['read_file'], policy: 'notified', model: 'mock' } }), 201);
    await ok(await api('PUT', '/v1/agents/notifier/labels/production', { version: 'v1', why: 'first' }));
    const v1 = await ok<VersionJson>(await api('GET', '/v1/agents/notifier/versions/v1'));
    const v2 = await ok<VersionJson>(await api('POST', '/v1/agents/notifier/versions', { spec: { ...v1.spec, network: { allow: ['pypi.org'] } } }), 201);
    const moved = await ok<MoveJson>(await api('PUT', '/v1/agents/notifier/labels/production', { version: 'v2', why: 'fetch from pypi' }), 202);
    const id = moved.promotion?.id ?? '';
    const posted = await waitFor(() => slack.calls.find((c) => c.method === 'chat.postMessage' && c.body.channel === '#agent-releases'), 20_000, 'the Slack message');
    expect(JSON.stringify(posted.body.blocks)).toContain(id);
    expect(JSON.stringify(posted.body.blocks)).toContain('network hosts added: pypi.org');

    const { body, headers } = signedClick(SIGNING_SECRET, { slackUser: 'U0BOB', action: 'approve', sessionId: id, gateId: 'gate-1' });
    const clicked = await stack.app.request('/v1/integrations/slack/interactions', { method: 'POST', body, headers });
    expect(await clicked.json()).toMatchObject({ ok: true, counted: true, status: 'open' });
    await ok(await api('POST', `/v1/agents/notifier/promotions/${id}/approvals`, { decision: 'approve' }, 'carol'));
    await waitFor(async () => {
      const labels = await ok<{ data: { label: string; sha: string }[] }>(await api('GET', '/v1/agents/notifier/labels'));
      return labels.data.find((l) => l.label === 'production')?.sha === v2.sha;
    }, 20_000, 'production to move to v2');
    await waitFor(() => slack.calls.some((c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks).includes(id) && JSON.stringify(c.body.blocks).includes('Approved')), 20_000, 'the message to show the approval');
  });

  it('runs a version under a saved tenant policy version, and promotes a looser saved version only through the gate', async () => {
    // Saving policies needs an elevated role (api/routes/policies.ts): admins here.
    await setTenantPolicySettings(stack.db, tenantId, { allowed: ['*'], elevated: { roles: ['admin'], policies: ['permissive'] } });
    const savePolicy = async (approvers: number) =>
      ok<{ sha256: string }>(await api('POST', '/v1/policies', { yaml: `name: team\nextends: strict\napproval:\n  approvers: ${approvers}\n` }, 'bob'), 201);
    const strictTeam = await savePolicy(3);
    const spec = { systemPrompt: 'Answer questions.', tools: ['read_file'], policy: 'team', policyVersion: strictTeam.sha256, model: 'mock' };
    await ok(await api('POST', '/v1/agents', { slug: 'team-agent', spec }), 201);
    await ok(await api('PUT', '/v1/agents/team-agent/labels/production', { version: 'v1', why: 'first' }));
    const session = await startSession(stack, { agent: 'team-agent', message: 'hello', metadata: { scenario: 'default' } });
    expect(session.policy.name).toBe('team');
    await waitForStatus(stack, session.id);

    // The same policy name, a later version with fewer approvers: looser, so gated.
    const looseTeam = await savePolicy(2);
    await ok(await api('POST', '/v1/agents/team-agent/versions', { spec: { ...spec, policyVersion: looseTeam.sha256 } }), 201);
    const moved = await ok<MoveJson>(await api('PUT', '/v1/agents/team-agent/labels/production', { version: 'v2', why: 'fewer approvers' }), 202);
    expect(moved.reasons.map((r) => r.path)).toEqual(['approval.approvers']);

    const unknownVersion = await api('POST', '/v1/agents/team-agent/versions', { spec: { ...spec, policyVersion: 'f'.repeat(64) } });
    expect(unknownVersion.status).toBe(400);
    expect((await json<ErrorJson>(unknownVersion)).error).toMatchObject({ code: 'unknown_policy', fields: [{ path: 'body.spec.policyVersion' }] });
  });

  it('keeps free-text agent names working as before', async () => {
    const session = await startSession(stack, { agent: 'not-an-agent', message: 'hello', metadata: { scenario: 'default' } });
    expect(session).toMatchObject({ agent: 'not-an-agent', agentVersion: null });
    await waitForStatus(stack, session.id);
  });

  it('refuses bad input with a code and the field', async () => {
    const expectError = async (res: Response, status: number, code: string, path?: string) => {
      const body = await json<ErrorJson>(res);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(body.error.code).toBe(code);
      if (path) expect(body.error.fields?.map((f) => f.path)).toContain(path);
    };
    await expectError(await api('POST', '/v1/agents', { slug: 'x', fromTemplate: 'no-such-template' }), 404, 'template_not_found', 'body.fromTemplate');
    await expectError(await api('POST', '/v1/agents', { slug: 'reviewer', fromTemplate: 'ci-fixer' }), 409, 'agent_exists', 'body.slug');
    // Another tenant's agent does not exist for mallory: not readable, no label can be set on its versions.
    await expectError(await api('GET', '/v1/agents/reviewer', undefined, 'mallory'), 404, 'agent_not_found');
    await expectError(await api('PUT', '/v1/agents/reviewer/labels/production', { version: 'v1', why: 'mine now' }, 'mallory'), 404, 'agent_not_found');
    await expectError(await api('POST', '/v1/sessions', { agent: 'reviewer@production', message: 'hi' }, 'mallory'), 404, 'agent_not_found', 'body.agent');
    const v1 = await ok<VersionJson>(await api('GET', '/v1/agents/reviewer/versions/v1'));
    await expectError(
      await api('POST', '/v1/agents/reviewer/versions', { spec: { ...v1.spec, systemPrompt: 'x'.repeat(200 * 1024) } }),
      400,
      'validation_failed',
      'body.spec.systemPrompt',
    );
    await expectError(await api('GET', '/v1/agents/reviewer/versions/abcdef0123456789'), 404, 'version_not_found', 'params.ref');
    await expectError(await api('PUT', '/v1/agents/reviewer/labels/staging', { version: 'abcdef0123', why: 'x' }), 404, 'version_not_found', 'body.version');
    await expectError(await api('GET', '/v1/agents/reviewer/diff?from=v1&to=v99'), 404, 'version_not_found', 'query.to');
    await expectError(await api('POST', '/v1/sessions', { agent: 'reviewer@abcdef0123', message: 'hi' }), 404, 'version_not_found', 'body.agent');
    await expectError(await api('POST', '/v1/sessions', { agent: 'reviewer', message: 'hi', policy: 'standard' }), 400, 'agent_version_conflict', 'body.policy');
    await expectError(await api('POST', '/v1/agents/reviewer/versions', { spec: { ...v1.spec, policy: 'nope' } }), 400, 'unknown_policy', 'body.spec.policy');
    await expectError(await api('PUT', '/v1/agents/reviewer/labels/v2', { version: 'v1', why: 'x' }), 400, 'validation_failed', 'params.label');
  });

  it('the kortix command line lists, shows, diffs and promotes over the HTTP API', async () => {
    const { server, port } = await listen(stack.app, '127.0.0.1', 0);
    const kortix = (...args: string[]) =>
      promisify(execFile)('npx', ['tsx', 'scripts/kortix.ts', 'agents', ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, KORTIX_API: `http://127.0.0.1:${port}`, KORTIX_TENANT: tenantId, KORTIX_KEY: stack.keys.alice },
      });
    try {
      expect((await kortix('ls')).stdout).toMatch(/^reviewer\tv4\talice$/m);
      expect((await kortix('show', 'reviewer')).stdout).toMatch(/^production\tv3\t[0-9a-f]{12}$/m);
      expect((await kortix('show', 'reviewer', 'v2')).stdout).toContain('model: mock');
      const diff = (await kortix('diff', 'reviewer', 'v3', 'v4')).stdout;
      expect(diff).toContain('\n+    - pypi.org\n');
      expect(diff).toContain('risky (promotion to production needs approval): max cost raised from 1 to 1.5; network hosts added: pypi.org');
      expect((await kortix('promote', 'reviewer', 'v4', '--why', 'from the command line')).stdout).toMatch(/^pending approval: .*\npromotion agp_/);
      const failed = await kortix('show', 'nobody').catch((err: { code: number; stderr: string }) => err);
      expect(failed).toMatchObject({ code: 1, stderr: expect.stringContaining('404 agent_not_found') });
    } finally {
      await closeServer(server);
    }
  });

  it('pages through agents and versions', async () => {
    for (const slug of ['pager-a', 'pager-b', 'pager-c']) await ok(await api('POST', '/v1/agents', { slug, fromTemplate: 'support-drafter' }), 201);
    const first = await ok<{ data: { slug: string }[]; nextCursor: string | null }>(await api('GET', '/v1/agents?limit=2'));
    expect(first.data.map((a) => a.slug)).toEqual(['notifier', 'pager-a']);
    // (team-agent sorts last.)
    const second = await ok<{ data: { slug: string }[]; nextCursor: string | null }>(await api('GET', `/v1/agents?limit=2&cursor=${first.nextCursor}`));
    expect(second.data.map((a) => a.slug)).toEqual(['pager-b', 'pager-c']);
    const third = await ok<{ data: { slug: string }[]; nextCursor: string | null }>(await api('GET', `/v1/agents?limit=2&cursor=${second.nextCursor}`));
    expect(third.data.map((a) => a.slug)).toEqual(['reviewer', 'team-agent']);
    expect(third.nextCursor).toBeNull();
    const versions = await ok<{ data: { number: number }[]; nextCursor: string | null }>(await api('GET', '/v1/agents/reviewer/versions?limit=3'));
    expect(versions.data.map((v) => v.number)).toEqual([4, 3, 2]);
    const rest = await ok<{ data: { number: number }[] }>(await api('GET', `/v1/agents/reviewer/versions?limit=3&cursor=${versions.nextCursor}`));
    expect(rest.data.map((v) => v.number)).toEqual([1]);
  });
});

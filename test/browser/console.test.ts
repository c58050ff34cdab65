/**
 * The web console in a real Chromium against the real stack: sign in (a wrong
 * key says so), start a session, watch it stream (through a dropped
 * connection, without duplicates), bob and carol approve its gate from their
 * inboxes and see each other's votes while alice watches it complete, a stale
 * vote gets a clear message, the cost page matches the ledger's API, and the
 * finished session replays deterministically, step by step to its answer.
 * axe-core runs on every page (serious and critical violations fail).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerType } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { usd } from '../../web/src/format.js';
import { json, startSession, toolResults, vote, waitForEvent, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';
import { accessibilityProblems, buildConsole, cspViolations, launch, listen, screenshot, signedIn, watchCsp } from './browser.js';

let stack: Stack;
let browser: Browser;
let server: ServerType;
let base: string;
const contexts: BrowserContext[] = [];
let alice: Page;
let sessionId: string;

beforeAll(async () => {
  await buildConsole();
  // Parked after 1 s on a gate (the transcript shows it); the walk-through's gate comes before its first tool call, so it has no sandbox to park.
  stack = await startStack(inject('services'), { env: { SESSION_SANDBOX_PARK_AFTER: '1s' } });
  ({ url: base, server } = await listen(stack.app));
  browser = await launch();
});
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await stack?.close();
});

async function as(who: 'alice' | 'bob' | 'carol' | 'dave'): Promise<Page> {
  const { context, page } = await signedIn(browser, base, stack, who);
  contexts.push(context);
  return page;
}

async function expectAccessible(page: Page) {
  expect(await accessibilityProblems(page)).toEqual([]);
}

describe('the console', () => {
  it('is served with a strict Content-Security-Policy, and a wrong key says so', async () => {
    const res = await fetch(`${base}/sessions`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/);

    const context = await browser.newContext({ baseURL: base });
    contexts.push(context);
    const page = await context.newPage();
    watchCsp(page);
    await page.goto('/');
    await page.getByLabel('Tenant').fill(stack.tenantId);
    await page.getByLabel('API key').fill('kx_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong tenant or API key.');
    await expectAccessible(page);
    await screenshot(page, 'sign-in');
  });

  it('alice starts a session and watches it stream until its gate', async () => {
    alice = await as('alice');
    await expectAccessible(alice);
    await alice.getByLabel('Message').fill('clean up the build cache');
    await alice.getByRole('button', { name: 'Start' }).click();
    await alice.waitForURL(/\/sessions\/ses_/);
    sessionId = new URL(alice.url()).pathname.split('/').pop() as string;
    await alice.getByText('Waiting for approval').waitFor({ timeout: 60_000 });
    await expect.poll(() => alice.getByTestId('session-status').textContent()).toBe('waiting_approval');
    // The policy decision names its rule; the gate its votes.
    await alice.locator('.ev-tool-decision').getByText('approve').waitFor();
    expect(await alice.locator('.ev-tool-decision code').first().textContent()).toBeTruthy();
    // A dropped connection: the stream resumes from Last-Event-ID.
    await alice.context().setOffline(true);
    await alice.waitForTimeout(1_500);
    await alice.context().setOffline(false);
    await expectAccessible(alice);
  });

  it('bob and carol approve from their inboxes, each seeing the other vote; alice sees it complete', async () => {
    const [bob, carol, dave] = await Promise.all([as('bob'), as('carol'), as('dave')]);
    for (const p of [bob, carol, dave]) await p.getByRole('link', { name: 'Approvals' }).click();
    const card = (p: Page) => p.getByRole('article', { name: new RegExp(`shell in ${sessionId}`) });
    await card(bob).waitFor();
    await card(carol).waitFor();
    await card(dave).waitFor();
    // The whole command, with its hash.
    expect(await card(bob).locator('.approve-text').textContent()).toContain('rm -rf /workspace/.cache');
    await expectAccessible(bob);
    await screenshot(bob, 'approvals');
    // dave's inbox stops refreshing: his card goes stale, and his late vote must say why it failed.
    const stale = await (await dave.request.get(`${base}/v1/approvals`, { headers: { 'x-tenant-id': stack.tenantId, authorization: `Bearer ${stack.keys.dave}` } })).text();
    await dave.route('**/v1/approvals', (route) => (route.request().method() === 'GET' ? route.fulfill({ body: stale, contentType: 'application/json' }) : route.fallback()));

    await card(bob).getByLabel('Comment').fill('cache only, fine');
    await card(bob).getByRole('button', { name: /^Approve/ }).click();
    await bob.getByText('Your approval counts; the gate waits for more.').waitFor();
    // carol sees bob's vote without reloading.
    await expect.poll(() => card(carol).getByTestId('votes').textContent(), { timeout: 10_000 }).toContain('bob');
    await card(carol).getByRole('button', { name: /^Approve/ }).click();
    await carol.getByText('Gate approved.').waitFor();

    await alice.locator('.ev-session-ended').waitFor({ timeout: 60_000 });
    await expect.poll(() => alice.getByTestId('session-status').textContent()).toBe('completed');
    expect(await alice.locator('.ev-session-ended').textContent()).toContain('Done. The sandbox said');
    // Resumed without duplicates: each seq once, as many as the API has.
    const seqs = await alice.locator('.transcript > li').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    expect(new Set(seqs).size).toBe(seqs.length);
    const stored = await stack.db.selectFrom('session_events').select('seq').where('session_id', '=', sessionId).execute();
    expect(seqs.length).toBe(stored.length);
    await expectAccessible(alice);
    await screenshot(alice, 'session');

    // The inboxes empty.
    await bob.getByText('Nothing waits for you.').waitFor();
    await carol.getByText('Nothing waits for you.').waitFor();
    // dave's stale card: the API's 409 as a sentence.
    await card(dave).getByRole('button', { name: /^Approve/ }).click();
    // Closed gate (409 gate_closed) or, once the session has ended, 409 session_closed: either way a sentence, not a code.
    await expect.poll(() => dave.getByRole('alert').first().textContent()).toMatch(/^(This approval is already closed: someone decided it before you\.|The session has already ended\.)$/);
  });

  it('lists the session, filtered by status and agent', async () => {
    await alice.getByRole('link', { name: 'Sessions' }).click();
    await alice.getByLabel('Status').selectOption('completed');
    await alice.getByRole('link', { name: new RegExp(sessionId.slice(0, 16)) }).waitFor();
    await alice.getByLabel('Agent', { exact: true }).last().fill('nobody');
    await alice.getByRole('button', { name: 'Filter' }).click();
    await alice.getByText('No sessions match these filters.').waitFor();
    await alice.goto('/');
    await alice.getByRole('link', { name: new RegExp(sessionId.slice(0, 16)) }).waitFor();
    await expectAccessible(alice);
    await screenshot(alice, 'sessions');
  });

  it('shows the session’s ledger rows with the same total as the API', async () => {
    const api = await json<{ data: { id: string }[]; total: { costUsd: number; calls: number } }>(await stack.api('GET', `/v1/sessions/${sessionId}/llm-calls`));
    expect(api.data.length).toBeGreaterThan(0);
    await alice.goto(`/cost?session=${sessionId}`);
    await alice.getByTestId('ledger-total').waitFor();
    expect(await alice.locator('.ledger-row').count()).toBe(api.data.length);
    expect(await alice.getByTestId('ledger-total').textContent()).toBe(usd(api.total.costUsd));
    await expectAccessible(alice);
    await screenshot(alice, 'cost-session');
    await alice.goto('/cost');
    await alice.getByRole('heading', { name: 'Budgets' }).waitFor();
    await expectAccessible(alice);
    await screenshot(alice, 'cost');
  });

  it('replays the finished session step by step to the final answer, and says it is deterministic', async () => {
    const check = await stack.api('GET', `/v1/sessions/${sessionId}/replay-check`);
    expect(await check.json()).toMatchObject({ deterministic: true, error: null });
    await alice.goto(`/sessions/${sessionId}`);
    await alice.getByRole('link', { name: 'Replay this session' }).click();
    await alice.getByTestId('replay-verdict').waitFor({ timeout: 90_000 });
    expect(await alice.getByTestId('replay-verdict').textContent()).toContain('Deterministic');
    expect(await alice.getByTestId('replay-event').textContent()).toMatch(/Workflow execution started/);
    await alice.getByRole('button', { name: 'Next' }).click();
    await alice.getByRole('button', { name: 'Next' }).click();
    expect(await alice.getByTestId('replay-event').textContent()).toMatch(/^3\./);
    const last = await alice.getByRole('button', { name: 'Next' });
    while (await last.isEnabled()) await last.click();
    expect(await alice.getByTestId('replay-event').textContent()).toMatch(/Workflow execution completed/);
    expect(await alice.getByLabel('Event attributes').textContent()).toContain('Done. The sandbox said');
    await expectAccessible(alice);
    await screenshot(alice, 'replay');
  });

  it('uploads a recorded history, steps through it, and is told it replays', async () => {
    // The walk-through's history as an export has it ({events} in Temporal's JSON), saved to a file.
    const exported = await json<{ events: unknown[]; nextPageToken: string | null }>(await stack.api('GET', `/v1/sessions/${sessionId}/history`));
    expect(exported.nextPageToken).toBeNull();
    const file = join(mkdtempSync(join(tmpdir(), 'kortix-history-')), `${sessionId}.json`);
    writeFileSync(file, JSON.stringify({ events: exported.events }));
    await alice.goto('/replay');
    await alice.getByLabel('Upload an exported history (JSON)').setInputFiles(file);
    await alice.getByTestId('replay-verdict').waitFor({ timeout: 60_000 });
    expect(await alice.getByTestId('replay-verdict').textContent()).toContain('Deterministic');
    await alice.getByRole('button', { name: 'Last' }).click();
    expect(await alice.getByTestId('replay-event').textContent()).toMatch(/Workflow execution completed/);
  });

  it('creates an agent from a template, saves a change and shows it in the side-by-side diff', async () => {
    await alice.getByRole('link', { name: 'Agents' }).click();
    const template = alice.getByRole('article', { name: 'Template Code reviewer' });
    await template.getByLabel('New agent’s slug').fill('reviewer');
    await expectAccessible(alice);
    await screenshot(alice, 'agents');
    await template.getByRole('button', { name: /^Create/ }).click();
    await alice.waitForURL(/\/agents\/reviewer$/);
    const prompt = alice.getByLabel('System prompt');
    await prompt.fill(`${await prompt.inputValue()}\nAlways cite file paths.`);
    await alice.getByLabel('Change note').fill('cite paths');
    await alice.getByRole('button', { name: 'Save version' }).click();
    await alice.getByText(/^Saved v2 /).waitFor();
    await alice.getByRole('button', { name: 'Show diff' }).click();
    await alice.locator('.diff-new', { hasText: 'Always cite file paths.' }).first().waitFor();
    expect(await alice.getByRole('list', { name: 'Changed fields' }).textContent()).toContain('systemPrompt');
    await expectAccessible(alice);
    await screenshot(alice, 'agent-diff');
  });

  it('promotes at once when tighter, and a looser production waits on a gate bob and carol approve', async () => {
    const labels = alice.getByRole('form', { name: 'Promote or roll back' });
    await labels.getByLabel('To version').selectOption({ index: 1 });
    await labels.getByLabel('Why').fill('first release');
    await labels.getByRole('button', { name: 'Move label' }).click();
    await expect.poll(() => alice.getByTestId('label-production').textContent()).toContain('v1');
    // v3 runs under permissive: looser than standard.
    await alice.getByRole('button', { name: 'YAML' }).click();
    const yaml = alice.getByLabel('Raw YAML');
    await expect.poll(() => yaml.inputValue()).toContain('policy: standard');
    await yaml.fill((await yaml.inputValue()).replace('policy: standard', 'policy: permissive'));
    await alice.getByRole('button', { name: 'Save version' }).click();
    await alice.getByText(/^Saved v3 /).waitFor();
    await labels.getByLabel('To version').selectOption({ index: 0 });
    await labels.getByLabel('Why').fill('needs the shell');
    await labels.getByRole('button', { name: 'Move label' }).click();
    await expect.poll(() => alice.getByTestId('promotion').textContent()).toContain('is pending');
    await screenshot(alice, 'agent-promotion');

    const [bob, carol] = await Promise.all([as('bob'), as('carol')]);
    for (const p of [bob, carol]) {
      await p.getByRole('link', { name: 'Approvals' }).click();
      await p.getByRole('article', { name: 'Approval for promotion of reviewer' }).getByRole('button', { name: /^Approve/ }).click();
      await p.getByText(/^(Your approval counts; the gate waits for more\.|Gate approved\.)$/).waitFor();
    }
    await expect.poll(() => alice.getByTestId('promotion').textContent(), { timeout: 30_000 }).toMatch(/is (approved|promoted|done|moved)/);
    await expect.poll(() => alice.getByTestId('label-production').textContent()).toContain('v3');
  });

  it('starts a session from an agent version, which the session pins; a version the tenant forbids says why', async () => {
    const versions = await json<{ data: { number: number; sha: string }[] }>(await stack.api('GET', '/v1/agents/reviewer/versions'));
    const v2 = versions.data.find((v) => v.number === 2)?.sha as string;
    await alice.getByRole('link', { name: 'Sessions' }).click();
    await alice.getByLabel('Message').fill('hello');
    // production is v3 now, under permissive, which this tenant lets no one use: a 403 said in words.
    await alice.getByRole('textbox', { name: 'Agent' }).first().fill('reviewer@production');
    await alice.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => alice.getByRole('alert').first().textContent()).toContain('permissive');
    await alice.getByRole('textbox', { name: 'Agent' }).first().fill('reviewer@v2');
    await alice.getByRole('button', { name: 'Start' }).click();
    await alice.waitForURL(/\/sessions\/ses_/);
    await expect.poll(() => alice.getByText(`reviewer@${v2.slice(0, 8)}`).count()).toBe(1);
    const pinned = new URL(alice.url()).pathname.split('/').pop() as string;
    expect(await json(await stack.api('GET', `/v1/sessions/${pinned}`))).toMatchObject({ agent: 'reviewer', agentVersion: v2 });
  });

  it('the policy playground says approve for rm -rf x under standard, with the rule', async () => {
    await alice.getByRole('link', { name: 'Policies' }).click();
    await alice.getByRole('combobox', { name: /^Policy/ }).selectOption('standard');
    await alice.getByLabel('Tool').selectOption('shell');
    await alice.getByLabel('command').fill('ls');
    await expect.poll(() => alice.getByTestId('decision').textContent()).toBe('allow');
    await alice.getByLabel('command').fill('rm -rf x');
    await expect.poll(() => alice.getByTestId('decision').textContent()).toBe('approve');
    expect(await alice.getByTestId('rule').textContent()).toBe('shell-destructive-or-network');
    await expectAccessible(alice);
    await screenshot(alice, 'policies');
  });

  it('ran without a Content-Security-Policy violation', () => {
    expect(cspViolations).toEqual([]);
  });
});


describe('the cost and replay routes', () => {
  it('are tenant-scoped: another tenant’s session is a 404', async () => {
    expect((await stack.api('GET', `/v1/sessions/${sessionId}/llm-calls`, 'mallory')).status).toBe(404);
    expect((await stack.api('GET', `/v1/sessions/${sessionId}/replay-check`, 'mallory')).status).toBe(404);
    const other = await json<{ data: unknown[] }>(await stack.api('GET', '/v1/cost', 'mallory'));
    expect(other.data).toEqual([]);
  });

  it('group the tenant’s spend by agent, matching the session’s ledger', async () => {
    const calls = await json<{ total: { costUsd: number; calls: number } }>(await stack.api('GET', `/v1/sessions/${sessionId}/llm-calls`));
    const byAgent = await json<{ data: { key: string; calls: number; costUsd: number }[] }>(await stack.api('GET', '/v1/cost?groupBy=agent'));
    // The walk-through is the only session of agent "default" in this tenant.
    const bucket = byAgent.data.find((g) => g.key === 'default');
    expect(bucket).toMatchObject({ calls: calls.total.calls });
    expect(bucket?.costUsd).toBeCloseTo(calls.total.costUsd, 8);
  });

  it('refuse bad input with the field path', async () => {
    const bad = await stack.api('GET', '/v1/cost?groupBy=week');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('query.groupBy');
    const backwards = await stack.api('GET', '/v1/cost?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(backwards.status).toBe(400);
    const notHistory = await stack.api('POST', '/v1/replay-check', 'alice', { history: { events: 'nope' } });
    expect(notHistory.status).toBe(400);
    expect(JSON.stringify(await notHistory.json())).toContain('body.history.events');
  });
});

// Last: its session is a second one of agent "default", which the cost test above counts on being alone.
describe('a parked sandbox in the live transcript', () => {
  it('shows a sandbox parked while its session waits on a gate, then the call that ran with its files', async () => {
    const parked = await startSession(stack, { message: 'park me', metadata: { scenario: 'park-gate' } });
    const gate = await waitForGate(stack, parked.id);
    await waitForEvent(stack, parked.id, 'sandbox.parked');
    await alice.goto(`/sessions/${parked.id}`);
    await alice.getByText('Sandbox parked').waitFor({ timeout: 30_000 });
    expect(await alice.locator('.ev-sandbox-parked').textContent()).toMatch(/while the session waits: its workspace \(\d+ bytes\) is kept/);
    for (const who of ['bob', 'carol'] as const) expect((await vote(stack, parked.id, gate.id, who)).status).toBe(200);
    expect((await waitForStatus(stack, parked.id)).status).toBe('completed');
    expect((await toolResults(stack, parked.id))[1]).toMatchObject({ ok: true, stdout: 'kept\n../note.txt\n' });
    await expectAccessible(alice);
    expect(cspViolations).toEqual([]);
  });
});

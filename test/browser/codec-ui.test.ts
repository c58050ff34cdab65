/**
 * The real Temporal Web UI decodes a session's encrypted payloads in Chromium,
 * with no tenant key of ours: alice signs in to the console, clicks "Decode in
 * Temporal UI" on her session (POST /v1/codec/login sets the HttpOnly,
 * SameSite=Strict cookie on /v1/codec), and the UI tab that opens — the
 * temporal-ui-server of scripts/provision/temporal-server.sh with the cluster's
 * own config, temporal/cluster/ui/cluster.yaml (codec endpoint, includeCredentials),
 * on the tests' Temporal dev server — shows a word of her message in the
 * workflow's input. A browser without the cookie sees the same page and the
 * codec's 401: the word never appears.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerType } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { provision } from '../../scripts/lib/provision.js';
import { ClusterProcess } from '../../temporal/cluster/process.js';
import { freePort } from '../../temporal/dev-server.js';
import { startSession } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';
import { buildConsole, launch, listen, screenshot, signedIn } from './browser.js';

const WORD = `heliotrope${randomUUID().slice(0, 6)}`;
let stack: Stack;
let browser: Browser;
let server: ServerType;
let base: string;
let ui: ClusterProcess;
let uiUrl: string;
let sessionId: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const services = inject('services');
  const bins = await provision('temporal-server');
  const uiServer = bins.TEMPORAL_UI_SERVER;
  if (!uiServer) throw new Error('scripts/provision/temporal-server.sh gave no TEMPORAL_UI_SERVER');
  await buildConsole();
  const uiPort = await freePort();
  uiUrl = `http://127.0.0.1:${uiPort}`;
  // The API's CORS and the session's Temporal UI link both name this UI.
  stack = await startStack(services, { workers: false, env: { TEMPORAL_UI_URL: uiUrl } });
  ({ url: base, server } = await listen(stack.app));
  ui = new ClusterProcess({
    name: 'temporal-ui',
    command: uiServer,
    args: ['--root', REPO_ROOT, '--config', 'temporal/cluster/ui', '--env', 'cluster', 'start'],
    env: {
      KORTIX_TCLUSTER_HOST: '127.0.0.1',
      KORTIX_TCLUSTER_UI_PORT: String(uiPort),
      KORTIX_TCLUSTER_FRONTEND_ADDRESS: services.temporalAddress,
      KORTIX_TCLUSTER_NAMESPACE: stack.config.TEMPORAL_NAMESPACE,
      KORTIX_TCLUSTER_CODEC_ENDPOINT: `${base}/v1/codec`,
    },
    cwd: REPO_ROOT,
    logFile: join(mkdtempSync(join(tmpdir(), 'kortix-codec-ui-')), 'temporal-ui.log'),
    ready: async () => (await fetch(`${uiUrl}/api/v1/settings`).catch(() => undefined))?.ok ?? false,
    listens: [`Web UI ${uiUrl}`],
  });
  await ui.start();
  // Workers off: the start event holds the message (encrypted by the API's client) whether or not a worker runs.
  sessionId = (await startSession(stack, { message: `please look at the ${WORD} file` })).id;
  browser = await launch();
});
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await ui?.stop();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await stack?.close();
});

/** The UI's settings as its server gives them: the codec endpoint and credentials come from the config file. */
interface UiSettings {
  Codec: { Endpoint: string; IncludeCredentials: boolean; PassAccessToken: boolean };
}

describe('the Temporal Web UI with the codec login', () => {
  it('is configured by temporal/cluster/ui/cluster.yaml to fetch the codec with credentials', async () => {
    const settings = (await (await fetch(`${uiUrl}/api/v1/settings`)).json()) as UiSettings;
    expect(settings.Codec).toMatchObject({ Endpoint: `${base}/v1/codec`, IncludeCredentials: true, PassAccessToken: false });
  });

  it("shows the session's message decoded after the console's \"Decode in Temporal UI\"", async () => {
    const { context, page } = await signedIn(browser, base, stack, 'alice');
    contexts.push(context);
    await page.goto(`/sessions/${sessionId}`);
    const [tab] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Decode in Temporal UI' }).click()]);
    await tab.waitForURL((u) => u.toString().startsWith(`${uiUrl}/namespaces/`), { timeout: 30_000 });
    expect(tab.url()).toContain(encodeURIComponent(sessionId));
    const cookies = await context.cookies(`${base}/v1/codec/decode`);
    expect(cookies.find((c) => c.name === 'kortix_codec')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/v1/codec' });
    await expect.poll(() => tab.content(), { timeout: 60_000, interval: 1_000 }).toContain(WORD);
    await screenshot(tab, 'temporal-ui-decoded');
  });

  it('without the cookie the same page shows no word of it: the codec answers 401', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page: Page = await context.newPage();
    const decode = page.waitForResponse((r) => r.url() === `${base}/v1/codec/decode` && r.request().method() === 'POST', { timeout: 60_000 });
    await page.goto(`${uiUrl}/namespaces/${encodeURIComponent(stack.config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(sessionId)}`);
    expect((await decode).status()).toBe(401);
    await page.getByText(sessionId).first().waitFor({ timeout: 30_000 });
    // Let the page settle on what it shows (the UI falls back to the payloads as they are).
    await page.waitForTimeout(3_000);
    const shown = await page.content();
    expect(shown).not.toContain(WORD);
    // What it shows instead is the ciphertext payload: its metadata says so (base64, as the UI prints bytes).
    expect(shown).toContain(Buffer.from('binary/encrypted').toString('base64'));
    await screenshot(page, 'temporal-ui-encrypted');
  });
});

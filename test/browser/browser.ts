/**
 * The browser tests' harness: the console built by Vite, the stack's app on a
 * real HTTP listener (the browser needs one; api/web.ts serves the built
 * assets from the same origin), Debian's Chromium driven by playwright-core
 * (CHROMIUM_BIN from scripts/provision/chromium.sh; nothing is downloaded),
 * axe-core on every page checked, and screenshots into test-artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { REPO_ROOT } from '../../config/index.js';
import type { Stack, Who } from '../support/stack.js';

export const SCREENSHOTS = resolve(REPO_ROOT, 'test-artifacts/screenshots');

/** Builds web/ into web/dist (before the stack's app reads it). */
export async function buildConsole(): Promise<void> {
  await build({ root: resolve(REPO_ROOT, 'web'), logLevel: 'warn', configFile: resolve(REPO_ROOT, 'web/vite.config.ts') });
}

export async function listen(app: Hono): Promise<{ url: string; server: ServerType }> {
  return new Promise((done) => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => done({ url: `http://127.0.0.1:${info.port}`, server }));
  });
}

export function chromiumPath(): string {
  const path = process.env.CHROMIUM_BIN;
  if (!path) throw new Error('CHROMIUM_BIN is not set: eval "$(scripts/provision/chromium.sh)" first (make test does)');
  return path;
}

export async function launch(): Promise<Browser> {
  // --no-sandbox: the tests run as root in CI, where Chromium's own sandbox refuses to start.
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A browser context signed in as `who` (the key in sessionStorage, as the sign-in page leaves it). */
export async function signedIn(browser: Browser, base: string, stack: Stack, who: Who): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watchCsp(page);
  await page.goto('/');
  await page.getByLabel('Tenant').fill(stack.tenantId);
  await page.getByLabel('API key').fill(stack.keys[who]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Sessions' }).waitFor();
  return { context, page };
}

/** Content-Security-Policy violations the page reports: a test fails on any. */
export const cspViolations: string[] = [];
export function watchCsp(page: Page): void {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
}

const AXE_SOURCE = readFileSync(resolve(REPO_ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now (evaluated over CDP: the CSP does not apply). */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(AXE_SOURCE);
  // A string: it runs in the page (this file is compiled without the DOM's types).
  const results = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) =>
    r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })))`)) as {
    id: string;
    impact: string | null;
    help: string;
    nodes: string[];
  }[];
  return results.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

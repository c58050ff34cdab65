/**
 * The web console's numbers on this machine (`npm run bench -- --only=web`):
 * the gzipped JavaScript the first page loads (goal < 250 KB) and all of it,
 * and in Debian's Chromium against the real API, the time to first
 * contentful paint and to the content being there, for the session list and
 * for a 200-step session's live page (its events seeded in Postgres as the
 * workflow writes them, so the page renders 200 steps of history).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { REPO_ROOT } from '../config/index.js';
import { createSessionRow } from '../db/session-records.js';
import { buildConsole, launch, listen, signedIn } from '../test/browser/browser.js';
import type { ServiceValues } from '../test/support/services.js';
import { startStack, type Stack } from '../test/support/stack.js';
import { percentiles } from './stats.js';

const RUNS = 7;
const STEPS = 200;
const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;

function bundleSizes() {
  const dist = resolve(REPO_ROOT, 'web/dist');
  const html = readFileSync(resolve(dist, 'index.html'), 'utf8');
  const gz = (asset: string) => gzipSync(readFileSync(resolve(dist, 'assets', asset))).length;
  // The first page: the entry script and what it preloads (lazy chunks are not).
  const first = [...html.matchAll(/\/assets\/([^"]+\.js)"/g)].map((m) => m[1] as string);
  const all = readdirSync(resolve(dist, 'assets')).filter((f) => f.endsWith('.js'));
  return { firstPageJsGzipKb: kb(first.reduce((n, f) => n + gz(f), 0)), allJsGzipKb: kb(all.reduce((n, f) => n + gz(f), 0)), jsFiles: all.length };
}

/** A finished session with `steps` model turns, each with a tool call and its result. */
async function seedLongSession(stack: Stack, steps: number): Promise<string> {
  const id = `ses_${randomUUID()}`;
  const createdAt = new Date(Date.now() - steps * 1000);
  await createSessionRow(stack.db, { id, tenantId: stack.tenantId, agent: 'bench', requester: 'alice', policyName: 'standard', policyHash: 'bench', model: null, metadata: {}, createdAt: createdAt.toISOString() });
  const rows: { type: string; data: Record<string, unknown> }[] = [{ type: 'message.user', data: { seq: 1, content: 'a long task', from: 'alice' } }];
  for (let step = 1; step <= steps; step++) {
    const toolCallId = `call_${step}`;
    rows.push(
      { type: 'llm.response', data: { step, seq: step * 2, content: '', toolCalls: [{ id: toolCallId, name: 'shell', arguments: JSON.stringify({ command: `echo step ${step}` }) }], model: 'mock', route: 'default', inputTokens: 900 + step, outputTokens: 40, costUsd: 0.0004, cacheHit: false, fallbackUsed: false } },
      { type: 'tool.decision', data: { toolCallId, name: 'shell', action: 'allow', ruleId: 'workspace-shell', reason: null } },
      { type: 'tool.started', data: { toolCallId, name: 'shell', arguments: { command: `echo step ${step}` }, hostId: 'bench' } },
      { type: 'tool.result', data: { toolCallId, name: 'shell', ran: true, ok: true, exitCode: 0, timedOut: false, truncated: false, output: `{"stdout":"step ${step}\\n"}` } },
    );
  }
  rows.push({ type: 'session.ended', data: { status: 'completed', finalAnswer: 'done', error: null, steps, usage: {} } });
  await stack.db
    .insertInto('session_events')
    .values(rows.map((r, i) => ({ tenant_id: stack.tenantId, session_id: id, session_created_at: createdAt, seq: i + 1, idempotency_key: `bench:${i + 1}`, type: r.type, data: JSON.stringify(r.data), created_at: new Date(createdAt.getTime() + i * 100) })))
    .execute();
  await stack.db.updateTable('sessions').set({ status: 'completed', step: steps, last_event_seq: rows.length, ended_at: new Date() }).where('id', '=', id).execute();
  return id;
}

/** Milliseconds from navigation to the first contentful paint, and to `ready` matching on the page. */
async function paint(browser: Browser, base: string, stack: Stack, path: string, ready: string) {
  const fcp: number[] = [];
  const content: number[] = [];
  const { context, page } = await signedIn(browser, base, stack, 'alice');
  for (let i = 0; i < RUNS; i++) {
    await page.goto(path);
    await page.locator(ready).last().waitFor({ timeout: 60_000 });
    const [f, c] = (await page.evaluate(`[performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1, performance.now()]`)) as [number, number];
    fcp.push(f);
    content.push(c);
  }
  await context.close();
  return { firstContentfulPaintMs: percentiles(fcp), contentReadyMs: percentiles(content) };
}

export async function benchWeb(services: ServiceValues) {
  await buildConsole();
  const bundle = bundleSizes();
  const stack = await startStack(services, { workers: false });
  const { url, server } = await listen(stack.app);
  const browser = await launch();
  try {
    for (let i = 0; i < 25; i++) await seedLongSession(stack, 3);
    const long = await seedLongSession(stack, STEPS);
    const list = await paint(browser, url, stack, '/', 'table.sessions tbody tr');
    const live = await paint(browser, url, stack, `/sessions/${long}`, '.ev-session-ended');
    return { bundle, sessionList: list, liveSession200Steps: { steps: STEPS, events: STEPS * 4 + 2, ...live } };
  } finally {
    await browser.close();
    server.close();
    await stack.close();
  }
}

/**
 * The browser tool through whole sessions (API, Temporal, worker, real
 * Chromium in a warm sandbox, the egress proxy), against a site served by
 * this process and named by the policies:
 * - a browser rule that says `approve` for the site's host: the scripted
 *   model's goto waits at a gate that shows the action and the URL (in the
 *   session and in the approvals inbox); nothing runs before the second of
 *   two votes cast through the API; then the goto runs and the events show it;
 * - a session whose pages download a file, one past the cap, open tabs
 *   without end and fill their heap: each is a tool result the model reads
 *   (the file's name and size, or the error), and the session goes on to
 *   its answer with the browser still working.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { hostAddress } from '../support/host-address.js';
import { getSession, json, readAllEvents, startSession, toolResults, vote, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';

const services = inject('services');
const proxyPort = 35_000 + Math.floor(Math.random() * 2_000);

const page = (title: string, body: string) => `<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`;
const REPORT = 'revenue,42\n'.repeat(100);

function site(req: IncomingMessage, res: ServerResponse): void {
  const html = (title: string, body: string) => void res.writeHead(200, { 'content-type': 'text/html' }).end(page(title, body));
  const file = (name: string, body: Buffer | string) =>
    void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${name}"`, 'content-length': Buffer.byteLength(body) }).end(body);
  switch ((req.url ?? '/').split('?')[0]) {
    case '/pay':
      return html('Pay', '<p>Payment of 100 EUR sent.</p>');
    case '/report.csv':
      return file('report.csv', REPORT);
    case '/big.bin':
      return file('big.bin', Buffer.alloc(3 * 1024 * 1024, 1));
    case '/tabs':
      return html('Tabs', '<script>for (;;) window.open("about:blank");</script>');
    case '/hog':
      return html('Hog', '<script>const keep = []; for (;;) keep.push(new Array(100000).fill({ a: Math.random() }));</script>');
    default:
      return html('Home', '<p>Welcome.</p>');
  }
}

let server: Server;
let origin: string;
let stack: Stack;
let mock: MockLlmServer;
const call = (args: Record<string, unknown>) => ({ tool_calls: [{ name: 'browser', arguments: args }] });

beforeAll(async () => {
  server = createServer(site);
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
  origin = `http://${hostAddress()}:${(server.address() as { port: number }).port}`;
  const { hostname, host } = new URL(origin);
  const dir = mkdtempSync(join(tmpdir(), 'kortix-browser-session-'));
  mkdirSync(join(dir, 'templates'));
  const policy = (name: string, rules: string[]) =>
    writeFileSync(
      join(dir, 'templates', `${name}.yaml`),
      [`name: ${name}`, 'tools: [browser]', 'network:', `  allow: ["${host}"]`, 'rules:', ...rules, '  - id: browse', '    tool: browser', '    action: allow', 'default: deny', ''].join('\n'),
    );
  policy('browser-gate', [
    '  - id: pay',
    '    tool: browser',
    `    match: { host: '${hostname}', browserAction: [goto] }`,
    '    action: approve',
    '    risk: high',
    '    reason: paying needs two people',
    '    approval: { approvers: 2 }',
  ]);
  policy('browser-open', []);
  mock = await startMockLlm({
    scenarios: [
      { name: 'pay', turns: [call({ action: 'goto', url: `${origin}/pay` }), { content: 'Done: {{tool.text}}' }] },
      {
        name: 'abuse',
        turns: [
          call({ action: 'goto', url: `${origin}/report.csv` }),
          call({ action: 'goto', url: `${origin}/big.bin` }),
          call({ action: 'goto', url: `${origin}/tabs`, timeout_seconds: 10 }),
          call({ action: 'goto', url: `${origin}/hog`, timeout_seconds: 30 }),
          call({ action: 'goto', url: `${origin}/` }),
          { content: 'Still browsing: {{tool.title}}' },
        ],
      },
    ],
  });
  stack = await startStack(services, {
    policiesDir: dir,
    env: {
      MOCK_LLM_URL: mock.url,
      SANDBOX_EGRESS_PROXY_PORT: String(proxyPort),
      SANDBOX_MEMORY_MB: '768',
      SANDBOX_PIDS_LIMIT: '256',
      SANDBOX_TMP_MB: '64',
      SANDBOX_BROWSER_HEAP_MB: '128',
      SANDBOX_BROWSER_DOWNLOAD_MAX_MB: '1',
    },
  });
}, 240_000);

afterAll(async () => {
  await stack?.close();
  await mock?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

interface InboxEntry {
  sessionId: string;
  gateId: string;
  display: { text: string };
  required: number;
}

describe('a browser rule that says approve for a host', () => {
  it('holds the goto at a gate showing the action and the URL until two approvers voted through the API; then it runs', async () => {
    const session = await startSession(stack, { message: 'pay the invoice', policy: 'browser-gate', metadata: { scenario: 'pay' } });
    const gate = await waitForGate(stack, session.id, 120_000);
    expect(gate).toMatchObject({ tool: 'browser', ruleId: 'pay', risk: 'high', reason: 'paying needs two people', required: 2, status: 'open' });
    expect(gate.arguments).toMatchObject({ action: 'goto', url: `${origin}/pay` });
    // The inbox reads the gate's row, which follows the workflow's state a moment later.
    const entry = await waitFor(
      async () => (await json<{ data: InboxEntry[] }>(await stack.api('GET', '/v1/approvals', 'bob'))).data.find((g) => g.gateId === gate.id),
      20_000,
      "the gate in bob's inbox",
    );
    expect(entry.display.text).toBe(`browser goto ${origin}/pay\n{"timeout_seconds":15}`);
    // Held: nothing ran.
    expect(await toolResults(stack, session.id)).toEqual([]);

    expect(await json(await vote(stack, session.id, gate.id, 'bob'))).toMatchObject({ counted: true, gate: { status: 'open' } });
    expect((await getSession(stack, session.id)).pendingApprovals[0]?.approvals.map((a) => a.approver)).toEqual(['bob']);
    expect(await toolResults(stack, session.id)).toEqual([]);
    expect(await json(await vote(stack, session.id, gate.id, 'carol'))).toMatchObject({ counted: true, gate: { status: 'approved' } });

    const done = await waitForStatus(stack, session.id, undefined, 120_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe('Done: Payment of 100 EUR sent.');
    const events = await readAllEvents(stack, session.id);
    const order = events.map((e) => e.type).filter((t) => /^(approval|tool)\./.test(t));
    expect(order).toEqual(['tool.decision', 'approval.requested', 'approval.vote', 'approval.vote', 'approval.resolved', 'tool.started', 'tool.result']);
    expect(events.filter((e) => e.type === 'approval.vote').map((e) => e.data.approver)).toEqual(['bob', 'carol']);
    const result = events.find((e) => e.type === 'tool.result')?.data as { name: string; ok: boolean; output: string };
    expect(result).toMatchObject({ name: 'browser', ok: true });
    expect(JSON.parse(result.output)).toMatchObject({ action: 'goto', url: `${origin}/pay`, title: 'Pay' });
  }, 300_000);
});

describe('a session whose pages download and misbehave', () => {
  it('reads each outcome as a tool result and goes on to its answer', async () => {
    const session = await startSession(stack, { message: 'look around', policy: 'browser-open', metadata: { scenario: 'abuse' } });
    const done = await waitForStatus(stack, session.id, undefined, 240_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe('Still browsing: Home');
    const results = await toolResults(stack, session.id);
    expect(results.map((r) => r.ok)).toEqual([true, false, false, false, true]);
    expect(results[0]?.downloads).toEqual([{ name: 'report.csv', path: '/workspace/downloads/report.csv', bytes: REPORT.length, url: `${origin}/report.csv` }]);
    expect(results[1]?.error).toMatch(/the download of 'big\.bin' \(\d+ bytes so far\) was cancelled: larger than the download cap of 1048576 bytes/);
    expect(String(results[2]?.notice)).toMatch(/more than 8 tabs/);
    expect(results[3]?.error).toMatch(/the page crashed/);
    expect(results[4]).toMatchObject({ title: 'Home', text: 'Welcome.' });
  }, 300_000);
});

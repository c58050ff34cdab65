/**
 * The sandbox browser, for real: Debian's headless Chromium in the sandbox
 * image, its driver (sandbox/browser-driver.py) as uid 1001, started while the
 * container waits in the warm pool, driven through the host
 * (sandbox/browser-host.ts) and through a session whose scripted model logs in
 * through a form, follows a link, takes a screenshot and extracts text. The
 * "web" is a small site served by this process, reached through the egress
 * proxy because the policy names it.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { execOnce } from '../../sandbox/one-shot-exec.js';
import { hostAddress } from '../support/host-address.js';
import { readAllEvents, startSession, waitForStatus } from '../support/sessions.js';
import { docker, startStack, waitFor, type Stack } from '../support/stack.js';

const services = inject('services');
const proxyPort = 33_000 + Math.floor(Math.random() * 2_000);

const page = (title: string, body: string) => `<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`;
const BIG = page('Big', `<h1>Big page</h1>${'<p>lorem ipsum dolor sit amet, consectetur adipiscing elit</p>'.repeat(80_000)}`);

function site(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  const html = (status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(text);
  };
  if (req.method === 'POST' && path === '/login') {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      if (form.get('user') === 'alice' && form.get('pass') === 's3cret') {
        return html(200, page('Dashboard', '<p>Welcome back, alice.</p><a href="/reports">Quarterly reports</a> <a href="/">Home</a>'));
      }
      return html(401, page('Login failed', '<p>Wrong user or password.</p>'));
    });
    return;
  }
  switch (path) {
    case '/':
      return html(200, page('Home', '<h1>Acme</h1><a href="/login">Log in</a> <a href="/slow">Slow page</a>'));
    case '/login':
      return html(
        200,
        page('Login', '<form method="post" action="/login"><label for="u">User</label><input id="u" name="user"><label>Password <input type="password" name="pass"></label><button type="submit">Sign in</button></form>'),
      );
    case '/reports':
      return html(200, page('Reports', '<h1>Reports</h1><p>Revenue grew 42% in Q3.</p><a href="/">Home</a>'));
    case '/slow':
      // Never finishes loading: the document itself never ends.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.write(`<!doctype html><html><head><title>Slow</title></head><body><p>Still loading below</p>${' '.repeat(4096)}`);
      return; // never ended
    case '/big':
      return html(200, BIG);
    default:
      return html(404, page('Not found', 'nothing here'));
  }
}

let server: Server;
let origin: string;
let host: DockerSandboxHost;
/** Sandboxes the tests claimed (the others of this host's pool are idle). */
const claimedIds = new Set<string>();

beforeAll(async () => {
  server = createServer(site);
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
  origin = `http://${hostAddress()}:${(server.address() as { port: number }).port}`;
  host = new DockerSandboxHost({
    docker,
    pool: `brw${randomUUID().slice(0, 6)}`,
    hostId: `browser-${randomUUID().slice(0, 6)}`,
    image: services.sandboxImage,
    limits: { memoryMb: 768, cpus: 1, pidsLimit: 256, workspaceMb: 16, tmpMb: 64 },
    seccompProfile: readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8'),
    outputLimitBytes: 16 * 1024,
    // A quick health sweep: the probe of an idle sandbox's browser is part of what is tested.
    warmPool: { minIdle: 1, maxTotal: 4, healthIntervalMs: 1000 },
    egress: { port: proxyPort, firewall: 'auto' },
    browser: { prewarm: true, heapMb: 128, downloadMaxMb: 16 },
  });
  await host.start();
}, 180_000);

afterAll(async () => {
  await host?.stop({ destroy: true });
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

/** Processes of the container as `uid comm args`, read from /proc by the browser user (it may read its own). */
async function processes(containerId: string): Promise<{ pid: number; uid: number; args: string }[]> {
  const script = [
    'import os',
    'for p in os.listdir("/proc"):',
    '    if not p.isdigit(): continue',
    '    try:',
    '        uid = os.stat(f"/proc/{p}").st_uid',
    '        args = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\\0", b" ").decode(errors="replace")',
    '    except OSError: continue',
    // The head and the tail: the driver's script is long, its command (start, relay) comes last.
    '    args = args.replace("\\n", " ")',
    '    print(p, uid, args if len(args) < 4000 else args[:300] + " ... " + args[-100:])',
  ].join('\n');
  const r = await execOnce(docker, containerId, ['python3', '-c', script], { user: '1001:1001' });
  return r.stdout
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [pid, uid, ...args] = l.split(' ');
      return { pid: Number(pid), uid: Number(uid), args: args.join(' ') };
    });
}
const browserMain = <T extends { args: string }>(ps: T[]): T | undefined => ps.find((p) => p.args.startsWith('/usr/lib/chromium/chromium-headless-shell') && !p.args.includes('--type='));

describe('a warm sandbox', () => {
  let containerId: string;

  it('has its browser up before any session asks for it, as the browser user, with no debugging port', async () => {
    await waitFor(() => host.stats().idle >= 1, 120_000, 'a warm sandbox');
    const claim = await host.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` });
    expect(claim.source).toBe('warm');
    containerId = claim.containerId;
    claimedIds.add(containerId);
    const ps = await processes(containerId);
    const main = browserMain(ps);
    expect(main?.uid).toBe(1001);
    expect(main?.args).toContain('--remote-debugging-pipe');
    expect(main?.args).toContain('--no-sandbox');
    expect(ps.some((p) => p.args.includes('--remote-debugging-port'))).toBe(false);
    // Nothing listens on TCP in the container (no port a page or the shell could reach).
    const tcp = await host.exec(containerId, { key: 'tcp', command: 'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk \'$4 == "0A"\' | wc -l', timeoutSeconds: 10 });
    expect(tcp.stdout.trim()).toBe('0');
  });

  it("cannot be stopped or driven by the agent's shell (uid 1000)", async () => {
    const main = browserMain(await processes(containerId));
    const r = await host.exec(containerId, { key: 'kill', command: `kill -9 ${main?.pid}; echo rc=$?`, timeoutSeconds: 10 });
    expect(r.stdout).toContain('rc=1');
    expect(r.stderr).toMatch(/Operation not permitted/);
    // The driver's socket refuses a peer of another uid.
    const py = [
      'import socket',
      's = socket.socket(socket.AF_UNIX)',
      's.connect(b"\\0kortix-browser-driver")',
      'try:',
      '    s.sendall(b\'{"action":"goto","url":"about:blank"}\\n\')',
      '    print("answer", repr(s.recv(100)))',
      'except OSError as e:',
      '    print("closed", type(e).__name__)',
    ];
    const c = await host.exec(containerId, { key: 'sock', command: `python3 - <<'PY'\n${py.join('\n')}\nPY`, timeoutSeconds: 10 });
    // Connected (same network namespace), then closed by the driver without an answer.
    expect(c.stdout.trim()).toMatch(/^(answer b''|closed (BrokenPipeError|ConnectionResetError))$/);
    expect(browserMain(await processes(containerId))?.pid).toBe(main?.pid);
  });

  it('loads a page with no network: the warm browser reaches nothing until a session gives it a proxy', async () => {
    const r = await host.browser(containerId, { action: 'goto', url: `${origin}/`, timeout_s: 10 });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/ERR_PROXY_CONNECTION_FAILED|ERR_/);
  });

  it('refuses a file outside /workspace and a chrome:// page in the driver itself', async () => {
    const f = await host.browser(containerId, { action: 'goto', url: 'file:///etc/passwd' });
    expect(f).toMatchObject({ ok: false, error: expect.stringMatching(/navigation refused: file:\/\/ is allowed under \/workspace only/) });
    const c = await host.browser(containerId, { action: 'goto', url: 'chrome://settings' });
    expect(c).toMatchObject({ ok: false, error: expect.stringMatching(/chrome: URLs are not allowed/) });
    await host.exec(containerId, { key: 'ws', command: 'echo "<title>Mine</title><p>from the workspace</p>" > /workspace/a.html', timeoutSeconds: 10 });
    const w = await host.browser(containerId, { action: 'goto', url: 'file:///workspace/a.html' });
    expect(w).toMatchObject({ ok: true, title: 'Mine', text: 'from the workspace' });
  });

  it('restarts a crashed browser in the same sandbox: the next action works and carries a notice', async () => {
    const main = browserMain(await processes(containerId));
    expect(main).toBeDefined();
    await execOnce(docker, containerId, ['bash', '-c', `kill -9 ${main?.pid}`], { user: '1001:1001' });
    const r = await host.browser(containerId, { action: 'goto', url: 'file:///workspace/a.html' });
    expect(r).toMatchObject({ ok: true, title: 'Mine' });
    expect(r.notice).toMatch(/The browser stopped \(killed by signal 9\) and was restarted/);
    const again = browserMain(await processes(containerId));
    expect(again?.pid).not.toBe(main?.pid);
    // Said once.
    expect((await host.browser(containerId, { action: 'extract' })).notice).toBeUndefined();
  });

  it('restarts a browser in which no tab opens any more (even in fresh page processes): the action runs, with a notice', async () => {
    // The active tab's page process dies (a crash the driver sees), then the browser stops answering:
    // the next action needs a new tab and none opens. Seen in CI after a page flooded the browser with tabs.
    const ps = await processes(containerId);
    const renderers = ps.filter((p) => p.uid === 1001 && p.args.includes('--type=renderer')).map((p) => p.pid);
    expect(renderers.length).toBeGreaterThan(0);
    await execOnce(docker, containerId, ['bash', '-c', `kill -9 ${renderers.join(' ')}`], { user: '1001:1001' });
    await new Promise((res) => setTimeout(res, 3000)); // the crash reaches the driver (its event thread)
    const main = browserMain(ps);
    await execOnce(docker, containerId, ['bash', '-c', `kill -STOP ${main?.pid}`], { user: '1001:1001' });
    const r = await host.browser(containerId, { action: 'goto', url: 'file:///workspace/a.html' });
    expect({ ok: r.ok, title: r.title, error: r.error }).toEqual({ ok: true, title: 'Mine', error: undefined });
    expect(r.notice).toMatch(/the page crashed .* no tab could be opened even in fresh page processes, so the browser was restarted/);
    // Said once, by the driver: not also as a browser that stopped by itself.
    expect(r.notice).not.toMatch(/The browser stopped/);
    expect(browserMain(await processes(containerId))?.pid).not.toBe(main?.pid);
  }, 120_000);

  it('starts the driver again when it is gone (killed with its browser), with a notice', async () => {
    const ps = await processes(containerId);
    const driver = ps.find((p) => p.uid === 1001 && p.args.startsWith('python3 -c') && / start --heap \d+ /.test(p.args));
    expect(driver).toBeDefined();
    const pids = ps.filter((p) => p.uid === 1001 && (p === driver || p.args.startsWith('/usr/lib/chromium'))).map((p) => String(p.pid));
    await execOnce(docker, containerId, ['bash', '-c', `kill -9 ${pids.join(' ')}`], { user: '1001:1001' });
    const r = await host.browser(containerId, { action: 'goto', url: 'file:///workspace/a.html' });
    expect({ ok: r.ok, title: r.title, error: r.error }).toEqual({ ok: true, title: 'Mine', error: undefined });
    expect(r.notice).toMatch(/had stopped and was started again/);
  });
});

describe('an idle warm sandbox whose browser and driver were killed', () => {
  it("is brought back in place by the pool's health probe, and its next session finds the browser up", async () => {
    await waitFor(() => host.stats().idle === 1 && host.stats().creating === 0, 120_000, 'one warm sandbox, none being made');
    const filters = { label: Object.entries(host.selector).map(([k, v]) => `${k}=${v}`) };
    const idle = (await docker.listContainers({ filters })).map((c) => c.Id).filter((c) => !claimedIds.has(c));
    expect(idle).toHaveLength(1);
    const id = idle[0];
    const ps = await processes(id ?? '');
    const driver = ps.find((p) => p.uid === 1001 && p.args.startsWith('python3 -c') && / start --heap \d+ /.test(p.args));
    const before = browserMain(ps);
    expect(driver && before).toBeTruthy();
    const pids = ps.filter((p) => p === driver || (p.uid === 1001 && p.args.startsWith('/usr/lib/chromium'))).map((p) => String(p.pid));
    await execOnce(docker, id ?? '', ['bash', '-c', `kill -9 ${pids.join(' ')}`], { user: '1001:1001' });
    // Only the probe starts a driver again (nothing else asks this sandbox for anything).
    const after = await waitFor(async () => browserMain(await processes(id ?? '')), 30_000, 'the browser started again by the probe');
    expect(after.pid).not.toBe(before?.pid);
    expect((await docker.listContainers({ filters })).map((c) => c.Id)).toContain(id);
    const claim = await host.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` });
    expect({ source: claim.source, containerId: claim.containerId }).toEqual({ source: 'warm', containerId: id });
    const r = await host.browser(claim.containerId, { action: 'goto', url: 'about:blank' });
    expect({ ok: r.ok, notice: r.notice }).toEqual({ ok: true, notice: undefined });
  }, 120_000);
});

describe('a sandbox on the egress network', () => {
  let containerId: string;
  beforeAll(async () => {
    const { port } = new URL(origin);
    containerId = (await host.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` }, { network: [`${new URL(origin).hostname}:${port}`] })).containerId;
  }, 120_000);

  it('stops waiting for a page that never finishes loading and says so', async () => {
    const r = await host.browser(containerId, { action: 'goto', url: `${origin}/slow`, timeout_s: 3 });
    expect(r).toMatchObject({
      ok: false,
      error: 'timeout: the page did not load within 3 s',
      title: 'Slow',
      loading: 'the page had not finished loading after 3 s; loading was stopped',
    });
    expect(r.text).toContain('Still loading below');
  });

  it('reads a 5 MB page capped, and types, clicks and goes back', async () => {
    const big = await host.browser(containerId, { action: 'goto', url: `${origin}/big`, timeout_s: 60 });
    expect(big.title).toBe('Big');
    const ex = await host.browser(containerId, { action: 'extract', max_chars: 5000, timeout_s: 60 });
    expect(ex).toMatchObject({ ok: true, truncated: true });
    expect(String(ex.text).length).toBeLessThanOrEqual(5000);
    expect(String(ex.text)).toMatch(/^Big page/);
    await host.browser(containerId, { action: 'goto', url: `${origin}/` });
    const none = await host.browser(containerId, { action: 'click', selector: '#missing' });
    expect(none).toMatchObject({ ok: false, error: 'element not found: no element matches the selector "#missing"' });
    const back = await host.browser(containerId, { action: 'back', timeout_s: 60 });
    expect(back).toMatchObject({ ok: true, title: 'Big' });
  }, 180_000);

  it('refuses a host the policy does not name, through the proxy', async () => {
    const r = await host.browser(containerId, { action: 'goto', url: 'http://example.com/' });
    // Plain HTTP: the proxy's own refusal is the page.
    expect(`${r.title} ${r.text}`).toMatch(/not allowed by the session's policy/);
  });
});

describe('a session with the browser tool', () => {
  let stack: Stack | undefined;
  let mock: MockLlmServer | undefined;
  afterAll(async () => {
    await stack?.close();
    await mock?.close();
  });

  it('logs in through a form, follows a link, takes a screenshot and extracts text; events and the answer show it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kortix-browser-policies-'));
    mkdirSync(join(dir, 'templates'));
    const hostPort = new URL(origin).host;
    writeFileSync(
      join(dir, 'templates', 'with-browser.yaml'),
      ['name: with-browser', 'tools: [browser]', 'network:', `  allow: ["${hostPort}"]`, 'rules:', '  - id: browse', '    tool: browser', '    action: allow', 'default: deny', ''].join('\n'),
    );
    const call = (args: Record<string, unknown>) => ({ tool_calls: [{ name: 'browser', arguments: args }] });
    mock = await startMockLlm({
      scenarios: [
        {
          name: 'browse',
          turns: [
            call({ action: 'goto', url: `${origin}/login` }),
            call({ action: 'type', selector: '#u', text: 'alice' }),
            call({ action: 'type', selector: 'input[name="pass"]', text: 's3cret' }),
            call({ action: 'click', text: 'Sign in' }),
            call({ action: 'click', text: 'Quarterly reports' }),
            call({ action: 'screenshot' }),
            call({ action: 'extract' }),
            { content: 'The report says: {{tool.text}}' },
          ],
        },
      ],
    });
    stack = await startStack(services, {
      policiesDir: dir,
      env: { MOCK_LLM_URL: mock.url, SANDBOX_EGRESS_PROXY_PORT: String(proxyPort + 1), SANDBOX_MEMORY_MB: '768', SANDBOX_PIDS_LIMIT: '256', SANDBOX_TMP_MB: '64' },
    });
    const session = await startSession(stack, { message: 'read the report', policy: 'with-browser', metadata: { scenario: 'browse' } });
    const done = await waitForStatus(stack, session.id, undefined, 180_000);
    expect(done.status).toBe('completed');
    const events = await readAllEvents(stack, session.id);
    const results = events
      .filter((e) => e.type === 'tool.result')
      .map((e) => e.data as { ok: boolean; output?: string; error?: string })
      .map((d) => (d.output ? (JSON.parse(d.output) as Record<string, unknown>) : { ok: d.ok, error: d.error ?? JSON.stringify(d) }));
    expect(results.map((r) => `${String(r.ok)} ${String(r.error ?? '')}`)).toEqual(Array(7).fill('true '));
    expect(done.finalAnswer).toMatch(/^The report says: Reports\s+Revenue grew 42% in Q3\.\s+\[1\]\s*Home/);
    expect(results[3]).toMatchObject({ action: 'click', title: 'Dashboard', navigated: true });
    expect(String(results[3]?.text)).toContain('Welcome back, alice.');
    expect(results[4]).toMatchObject({ title: 'Reports', url: `${origin}/reports`, url_changed: true });
    expect(results[5]).toMatchObject({ screenshot: { format: 'png', width: 640, height: 400 } });
    const shot = events.find((e) => e.type === 'browser.screenshot')?.data as { format: string; data: string; url: string } | undefined;
    expect(shot?.url).toBe(`${origin}/reports`);
    const png = Buffer.from(shot?.data ?? '', 'base64');
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.readUInt32BE(16)).toBe(640);
  }, 300_000);
});

/**
 * Downloads and abuse through the sandbox's browser (real Chromium in a warm
 * sandbox that joined the egress network at claim), against a site served by
 * this test process and allowed by name:
 * - downloads land in /workspace/downloads, owned by the agent's user, the
 *   result naming the file and its size; past the cap (1 MB here) they are
 *   cancelled, with or without Content-Length, and the action fails with the
 *   reason; names a server suggests (`../../etc/x`, NUL, 1000 characters)
 *   become one plain file name; a link the agent planted at
 *   /workspace/downloads is not followed;
 * - a page that opens tabs without end, synchronously or on a timer, and a
 *   page that allocates memory until its heap cap or the container's limit:
 *   each ends in a tool error or a capped result, and the next action works.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { execOnce } from '../../sandbox/one-shot-exec.js';
import { docker } from '../support/stack.js';

const services = inject('services');
const proxyPort = 33_000 + Math.floor(Math.random() * 2_000);
const CAP = 1024 * 1024;
const SMALL = 'quarterly numbers\n'.repeat(600);
const LONG_NAME = `${'n'.repeat(1000)}.txt`;

let site: Server;
let port = 0;
let origin = '';
const page = (title: string, body: string) => `<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`;

/** The test site: pages, attachments of every kind, and hostile pages. */
function serve(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const attachment = (disposition: string, body: string | Buffer) =>
    void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': disposition, 'content-length': Buffer.byteLength(body) }).end(body);
  switch (url.pathname) {
    case '/report':
      return attachment('attachment; filename="report.txt"', SMALL);
    case '/named':
      // The name arrives as the server wrote it (RFC 5987 percent-encoding carries the NUL).
      return attachment(`attachment; filename*=UTF-8''${url.search.slice('?n='.length)}`, 'hostile name\n');
    case '/big':
      return attachment('attachment; filename="big.bin"', Buffer.alloc(3 * CAP, 7));
    case '/stream': {
      // No Content-Length: the cap is found while it arrives. Bounded: 16 MB at most, stops when the browser hangs up.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="stream.bin"' });
      let sent = 0;
      const chunk = Buffer.alloc(128 * 1024, 1);
      const timer = setInterval(() => {
        if (res.destroyed || sent >= 16 * CAP) {
          clearInterval(timer);
          return res.end();
        }
        res.write(chunk);
        sent += chunk.length;
      }, 10);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case '/links':
      return void res.writeHead(200, { 'content-type': 'text/html' }).end(page('Links', '<a href="/report" download>Get the report</a>'));
    case '/tabs-timer':
      return void res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(page('Tabs', '<p>opening</p><script>setInterval(() => { for (let i = 0; i < 20; i++) window.open("/tabs-timer?" + Math.random()); }, 5);</script>'));
    case '/tabs-loop':
      return void res.writeHead(200, { 'content-type': 'text/html' }).end(page('Tabs loop', '<p>looping</p><script>for (;;) window.open("about:blank");</script>'));
    case '/hog-heap':
      // Objects on the JavaScript heap, synchronously while loading: the heap cap (128 MB here) ends the page.
      return void res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(page('Heap hog', '<script>const keep = []; for (;;) keep.push(new Array(100000).fill({ a: Math.random() }));</script>'));
    case '/hog-buffers':
      // Buffers outside the heap, touched: past the container's memory (768 MB) the kernel kills the renderer.
      return void res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(page('Buffer hog', '<script>const keep = []; for (;;) keep.push(new Uint8Array(64 << 20).fill(1));</script>'));
    default:
      return void res.writeHead(200, { 'content-type': 'text/html' }).end(page('Test site', '<p>hello from the test site</p>'));
  }
}

const host = new DockerSandboxHost({
  docker,
  pool: `bra${randomUUID().slice(0, 6)}`,
  hostId: `browser-abuse-${randomUUID().slice(0, 6)}`,
  image: services.sandboxImage,
  limits: { memoryMb: 768, cpus: 1, pidsLimit: 256, workspaceMb: 32, tmpMb: 64 },
  seccompProfile: readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8'),
  outputLimitBytes: 64 * 1024,
  warmPool: { minIdle: 1, maxTotal: 2 },
  browser: { prewarm: true, heapMb: 128, downloadMaxMb: 1 },
  egress: {
    port: proxyPort,
    firewall: 'on',
    lookup: async (name) => (name === 'site.test' ? '127.0.0.1' : Promise.reject(new Error(`no such host ${name}`))),
    internalAllowed: ['127.0.0.1'],
  },
});
let containerId: string;

const go = (path: string, timeout_s = 20) => host.browser(containerId, { action: 'goto', url: `${origin}${path}`, timeout_s });
const shell = async (command: string) => (await host.exec(containerId, { key: randomUUID(), command, timeoutSeconds: 20 })).stdout;
/** The browser user's staging directory, as that user sees it: nothing may stay behind there. */
const staged = async () => (await execOnce(docker, containerId, ['bash', '-c', 'ls -A /tmp/kortix-downloads-*/'], { user: '1001:1001' })).stdout.toString('utf8').trim();

/** The next action works on a fresh page: the session goes on. */
async function stillWorks(): Promise<void> {
  const r = await go('/');
  // The message names the error and the notices: the run summary shortens the objects it compares.
  expect({ ok: r.ok, title: r.title, error: r.error }, `the next action: ${JSON.stringify({ error: r.error, notice: r.notice })}`).toEqual({
    ok: true,
    title: 'Test site',
    error: undefined,
  });
}

beforeAll(async () => {
  site = createServer(serve);
  await new Promise<void>((r) => site.listen(0, '0.0.0.0', () => r()));
  port = (site.address() as { port: number }).port;
  origin = `http://site.test:${port}`;
  await host.start();
  for (let i = 0; i < 1200 && host.stats().idle < 1; i++) await new Promise((r) => setTimeout(r, 100));
  const claim = await host.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` }, { network: [`site.test:${port}`] });
  expect(claim.source).toBe('warm');
  containerId = claim.containerId;
}, 180_000);
afterAll(async () => {
  await host.stop({ destroy: true });
  site?.closeAllConnections();
  await new Promise((r) => site?.close(r));
});

describe('downloads', () => {
  it('land in /workspace/downloads, owned by the agent, the result naming the file and its size', async () => {
    const r = await go('/report');
    expect(r).toMatchObject({ ok: true, action: 'goto', navigated: false, downloads: [{ name: 'report.txt', path: '/workspace/downloads/report.txt', bytes: SMALL.length }] });
    expect(await shell('stat -c "%u %s" /workspace/downloads/report.txt')).toBe(`1000 ${SMALL.length}\n`);
    expect(await shell('head -c 18 /workspace/downloads/report.txt')).toBe('quarterly numbers\n');
    // The same name again: a second file beside it, never over it.
    const again = await go('/report');
    expect(again.downloads).toEqual([expect.objectContaining({ name: 'report (2).txt', bytes: SMALL.length })]);
    // A link with `download`, clicked.
    await go('/links');
    const click = await host.browser(containerId, { action: 'click', text: 'Get the report', timeout_s: 20 });
    expect(click).toMatchObject({ ok: true, action: 'click', navigated: false, title: 'Links', downloads: [{ name: 'report (3).txt', bytes: SMALL.length }] });
    // The browser user's copy waits until the next action (the host copied it out meanwhile).
    expect((await staged()).split('\n')).toHaveLength(1);
    await stillWorks();
    expect(await staged()).toBe('');
  });

  it('past the cap are cancelled, with Content-Length or without, and the action fails with the reason', async () => {
    const big = await go('/big');
    expect(big.ok).toBe(false);
    expect(big.error).toMatch(/the download of 'big\.bin' \(\d+ bytes so far\) was cancelled: larger than the download cap of 1048576 bytes/);
    expect(big.downloads).toBeUndefined();
    const stream = await go('/stream', 30);
    expect(stream.ok).toBe(false);
    expect(stream.error).toMatch(/the download of 'stream\.bin' \(\d+ bytes so far\) was cancelled: larger than the download cap of 1048576 bytes/);
    expect(await shell('ls /workspace/downloads')).not.toMatch(/big|stream/);
    await stillWorks();
    expect(await staged()).toBe('');
  });

  it('get one plain file name, whatever the server suggests', async () => {
    const names: string[] = [];
    for (const n of ['..%2F..%2Fetc%2Fx', 'a%00b%0A.txt', LONG_NAME, '..', '%E2%80%AEtxt.exe']) {
      const r = await go(`/named?n=${n}`);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      const d = (r.downloads as { name: string; path: string }[] | undefined)?.[0];
      expect(d?.path).toBe(`/workspace/downloads/${d?.name}`);
      names.push(d?.name ?? '');
    }
    for (const name of names) {
      expect(name).not.toMatch(/[/\\\0\n\u202e]/);
      expect(name).not.toMatch(/^\./);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(200);
    }
    expect(names[2]).toMatch(/^n{100,}(\.txt)?$/);
    // Nothing was written outside the downloads directory.
    expect(await shell('ls -A /workspace; test -e /etc/x && echo ETC; test -e /workspace/etc && echo WS; find /workspace -newer /workspace/downloads/report.txt -not -path "/workspace/downloads*" | head')).toBe('downloads\n');
  });

  it('do not follow a link the agent planted at /workspace/downloads', async () => {
    await shell('mv /workspace/downloads /workspace/saved && ln -s /tmp /workspace/downloads');
    const r = await go('/report');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/cannot open \/workspace\/downloads/);
    expect(await shell('ls /tmp | grep -c report || true')).toBe('0\n');
    await shell('rm /workspace/downloads && mv /workspace/saved /workspace/downloads');
    await stillWorks();
    expect(await staged()).toBe('');
  });
});

describe('abuse', () => {
  it('a page opening tabs on a timer gets at most 8 tabs and its scripts stopped; the next action works', async () => {
    const r = await go('/tabs-timer');
    expect(r.title).toBe('Tabs');
    await new Promise((res) => setTimeout(res, 1500));
    const tabs = await host.browser(containerId, { action: 'tabs', op: 'list', timeout_s: 20 });
    const notice = `${String(r.notice ?? '')} ${String(tabs.notice ?? '')}`;
    expect(notice).toMatch(/tried to open more than 8 tabs: the extra ones were closed/);
    expect((tabs.tabs as unknown[]).length).toBeLessThanOrEqual(8);
    await stillWorks();
    // Still capped a while later: the pages' timers were stopped.
    await new Promise((res) => setTimeout(res, 1000));
    expect(((await host.browser(containerId, { action: 'tabs', op: 'list' })).tabs as unknown[]).length).toBeLessThanOrEqual(8);
  });

  it('a page opening tabs in an endless loop has its tab crashed: a tool error, and the next action works', async () => {
    const r = await go('/tabs-loop', 10);
    expect(r.ok).toBe(false);
    expect(String(r.notice)).toMatch(/more than 8 tabs: the extra ones were closed/);
    expect(String(r.notice)).toMatch(/it went on opening tabs, so its tab was crashed on purpose/);
    expect(r.error).toMatch(/the page crashed/);
    await stillWorks();
    const tabs = await host.browser(containerId, { action: 'tabs', op: 'list', timeout_s: 20 });
    expect((tabs.tabs as unknown[]).length).toBeLessThanOrEqual(8);
  });

  it('a page filling its JavaScript heap crashes its tab: a tool error, and the next action works', async () => {
    const r = await go('/hog-heap', 60);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/the page crashed|the browser stopped/);
    await stillWorks();
  }, 120_000);

  it('a page allocating past the container’s memory is killed, not the sandbox: a tool error, and the next action works', async () => {
    const r = await go('/hog-buffers', 60);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/the page crashed|the browser stopped/);
    await stillWorks();
    expect(await shell('echo alive')).toBe('alive\n');
  }, 120_000);
});

/**
 * Escape and abuse through the sandbox's browser (real Chromium in a warm
 * sandbox that joined the egress network at claim): hosts the policy does
 * not name, a redirect to one, the metadata address, files outside
 * /workspace, and a page whose JavaScript reaches for loopback ports (the
 * driver has no debugging port; loopback goes to the proxy, which refuses
 * it). The "internet" is a site served by this test process, allowed by name.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { DockerSandboxHost } from '../../sandbox/docker-host.js';
import { docker } from '../support/stack.js';

const services = inject('services');
const proxyPort = 33_000 + Math.floor(Math.random() * 2_000);
const names: Record<string, string> = { 'site.test': '127.0.0.1', 'evil.test': '127.0.0.1' };

let site: Server;
let port = 0;
const PROBE = `<html><head><title>probing</title></head><body><script>
(async () => {
  const out = [];
  for (const url of ['http://127.0.0.1:9222/json/version', 'http://localhost:9229/json', 'http://169.254.169.254/latest/meta-data/']) {
    try { const r = await fetch(url, { mode: 'no-cors' }); out.push(r.type + ':' + r.status); } catch (e) { out.push('blocked'); }
  }
  // A DevTools client's way in: a WebSocket to a debugging port (there is none: --remote-debugging-pipe).
  out.push('ws:' + await new Promise((done) => {
    const ws = new WebSocket('ws://127.0.0.1:9333/devtools/browser');
    ws.onopen = () => done('open');
    ws.onerror = () => done('error');
    setTimeout(() => done('pending'), 5000);
  }));
  document.title = 'probe ' + out.join(' ');
})();
</script></body></html>`;

const host = new DockerSandboxHost({
  docker,
  pool: `bre${randomUUID().slice(0, 6)}`,
  hostId: `browser-escape-${randomUUID().slice(0, 6)}`,
  image: services.sandboxImage,
  limits: { memoryMb: 768, cpus: 1, pidsLimit: 256, workspaceMb: 32, tmpMb: 128 },
  seccompProfile: readFileSync(resolve(REPO_ROOT, 'sandbox/seccomp.json'), 'utf8'),
  outputLimitBytes: 64 * 1024,
  warmPool: { minIdle: 1, maxTotal: 3 },
  browser: { prewarm: false, heapMb: 256, downloadMaxMb: 16 },
  egress: {
    port: proxyPort,
    firewall: 'on',
    lookup: async (name) => names[name] ?? Promise.reject(new Error(`no such host ${name}`)),
    internalAllowed: ['127.0.0.1'],
  },
});
let containerId: string;

/** One browser action, and what the proxy refused for this sandbox meanwhile. */
async function act(request: Parameters<DockerSandboxHost['browser']>[1]) {
  const since = Date.now();
  const reply = await host.browser(containerId, { timeout_s: 20, ...request });
  return { reply, refused: (await host.egressRefusals(containerId, since)).map((r) => r.reason) };
}

beforeAll(async () => {
  site = createServer((req, res) => {
    if (req.url === '/redirect') res.writeHead(302, { location: `http://evil.test:${port}/stolen` }).end();
    else if (req.url === '/probe') res.writeHead(200, { 'content-type': 'text/html' }).end(PROBE);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<html><head><title>Test site</title></head><body><p>hello from the test site</p></body></html>');
  });
  await new Promise<void>((r) => site.listen(0, '0.0.0.0', () => r()));
  port = (site.address() as { port: number }).port;
  await host.start();
  for (let i = 0; i < 600 && host.stats().idle < 1; i++) await new Promise((r) => setTimeout(r, 100));
  const claim = await host.claim({ tenantId: 't', sessionId: `ses_${randomUUID()}` }, { network: [`site.test:${port}`] });
  expect(claim.source).toBe('warm');
  containerId = claim.containerId;
});
afterAll(async () => {
  await host.stop({ destroy: true });
  await new Promise((r) => site.close(r));
});

describe('the browser of a sandbox whose policy names one host', () => {
  it('loads the named host through the proxy', async () => {
    const { reply, refused } = await act({ action: 'goto', url: `http://site.test:${port}/` });
    expect(reply).toMatchObject({ ok: true, title: 'Test site' });
    expect(refused).toEqual([]);
  });

  it('is refused a host the policy does not name, with the proxy’s reason', async () => {
    const { refused } = await act({ action: 'goto', url: `http://evil.test:${port}/` });
    expect(refused).toContain(`evil.test:${port} is not allowed by the session's policy (network.allow)`);
  });

  it('is refused a redirect to a host the policy does not name (a new request the proxy sees)', async () => {
    const { reply, refused } = await act({ action: 'goto', url: `http://site.test:${port}/redirect` });
    expect(refused).toContain(`evil.test:${port} is not allowed by the session's policy (network.allow)`);
    expect(JSON.stringify(reply)).not.toContain('hello from the test site');
  });

  it('never reaches the metadata address', async () => {
    const { refused } = await act({ action: 'goto', url: 'http://169.254.169.254/latest/meta-data/' });
    expect(refused).toContain("169.254.169.254:80 is not allowed by the session's policy (network.allow)");
  });

  it('does not open files outside /workspace', async () => {
    const { reply } = await act({ action: 'goto', url: 'file:///etc/passwd' });
    expect(reply.ok).toBe(false);
    expect(JSON.stringify(reply)).not.toContain('root:x:0:0');
  });

  it('gives a page’s JavaScript no loopback port (no debugging port: loopback goes to the proxy, which refuses it) and no metadata', async () => {
    const since = Date.now();
    await act({ action: 'goto', url: `http://site.test:${port}/probe` });
    let title = '';
    for (let i = 0; i < 40 && !title.startsWith('probe '); i++) {
      await new Promise((r) => setTimeout(r, 250));
      title = String((await host.browser(containerId, { action: 'extract', timeout_s: 10 })).title ?? '');
    }
    expect(title).toMatch(/^probe /);
    expect(title).toContain('ws:error');
    // no-cors answers are opaque either way: the proxy's refusals show where each request went.
    const refused = (await host.egressRefusals(containerId, since)).map((r) => r.reason);
    expect(refused).toEqual(
      expect.arrayContaining([
        "127.0.0.1:9222 is not allowed by the session's policy (network.allow)",
        "127.0.0.1:9333 is not allowed by the session's policy (network.allow)",
        "localhost:9229 is not allowed by the session's policy (network.allow)",
        "169.254.169.254:80 is not allowed by the session's policy (network.allow)",
      ]),
    );
  });
});

/**
 * The egress proxy against local servers: a name is checked on every address
 * it resolves to and connected to the address that was checked (one lookup,
 * so a rebinding resolver cannot swap it), literals in any form are judged as
 * addresses, a sandbox holds a bounded number of connections, and an idle
 * tunnel is closed.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowlist, type AllowEntry } from '../../sandbox/allowlist.js';
import { EgressProxy, type EgressProxyOptions } from '../../sandbox/egress-proxy.js';

let upstream: Server;
let echo: TcpServer;
let upstreamPort: number;
let echoPort: number;
const proxies: EgressProxy[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => res.end(`upstream saw ${req.url}`));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamPort = (upstream.address() as { port: number }).port;
  echo = createTcpServer((s) => s.pipe(s));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(() => {
  upstream.close();
  echo.close();
});
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
});

async function startProxy(allow: string[], options: Partial<EgressProxyOptions> = {}): Promise<number> {
  const entries: AllowEntry[] = parseAllowlist(allow);
  const proxy = new EgressProxy({ host: '127.0.0.1', port: 0, allowlistFor: async () => entries, internalAllowed: ['127.0.0.1'], ...options });
  proxies.push(proxy);
  return proxy.listen();
}

function get(proxyPort: number, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path: url, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a CONNECT tunnel; resolves with the socket and the status line. */
function tunnel(proxyPort: number, target: string): Promise<{ socket: Socket; status: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxyPort, '127.0.0.1', () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    let data = '';
    const onData = (c: Buffer) => {
      data += c.toString();
      if (!data.includes('\r\n')) return;
      socket.off('data', onData);
      resolve({ socket, status: data.split('\r\n')[0] ?? '' });
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

describe('names and addresses', () => {
  it('refuses an allowed name when any of its addresses is internal, and says which', async () => {
    const port = await startProxy([`mixed.test:${upstreamPort}`, `meta.test:${upstreamPort}`], {
      lookup: async (name) => (name === 'mixed.test' ? ['93.184.216.34', '169.254.169.254'] : ['169.254.169.254']),
    });
    expect(await get(port, `http://meta.test:${upstreamPort}/`)).toEqual({
      status: 403,
      body: `kortix egress proxy: meta.test resolves to an internal address (169.254.169.254), which the proxy never connects a name to\n`,
    });
    expect((await get(port, `http://mixed.test:${upstreamPort}/`)).body).toMatch(/mixed\.test resolves to an internal address \(169\.254\.169\.254\)/);
  });

  it('resolves once and connects to the address it checked (a rebinding resolver cannot swap it)', async () => {
    let lookups = 0;
    const port = await startProxy([`rebind.test:${upstreamPort}`, `rebind.test:${echoPort}`], {
      // First answer: the (allowed) local upstream; any later one: the metadata service.
      lookup: async () => (lookups++ === 0 ? ['127.0.0.1'] : ['169.254.169.254']),
    });
    expect(await get(port, `http://rebind.test:${upstreamPort}/x`)).toEqual({ status: 200, body: 'upstream saw /x' });
    expect(lookups).toBe(1);
    const t = await tunnel(port, `rebind.test:${echoPort}`);
    expect(t.status).toMatch(/^HTTP\/1\.1 403/);
    t.socket.destroy();
    expect(lookups).toBe(2);
  });

  it('judges decimal, hex and mapped literals as the addresses they are', async () => {
    const port = await startProxy(['*', `169.254.169.254:${upstreamPort}`]);
    expect((await get(port, 'http://0xA9FEA9FE/')).status).toBe(403);
    expect((await get(port, 'http://2130706433/')).body).toMatch(/127\.0\.0\.1:80 is not allowed/);
    expect((await tunnel(port, '[::ffff:169.254.169.254]:443')).status).toMatch(/^HTTP\/1\.1 403/);
  });

  it('refuses localhost allowed by name (the system resolver, no override)', async () => {
    const port = await startProxy([`localhost:${upstreamPort}`], { internalAllowed: [] });
    const r = await get(port, `http://localhost:${upstreamPort}/`);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/localhost resolves to an internal address \((127\.0\.0\.1|::1)\)/);
  });
});

describe('per-sandbox limits', () => {
  it('holds at most maxConnectionsPerSandbox connections; a closed one makes room', async () => {
    const port = await startProxy([`echo.test:${echoPort}`], { lookup: async () => '127.0.0.1', maxConnectionsPerSandbox: 2 });
    const a = await tunnel(port, `echo.test:${echoPort}`);
    const b = await tunnel(port, `echo.test:${echoPort}`);
    expect([a.status, b.status]).toEqual(['HTTP/1.1 200 Connection Established', 'HTTP/1.1 200 Connection Established']);
    const c = await tunnel(port, `echo.test:${echoPort}`);
    expect(c.status).toBe('HTTP/1.1 429 Too Many Connections');
    a.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const d = await tunnel(port, `echo.test:${echoPort}`);
    expect(d.status).toBe('HTTP/1.1 200 Connection Established');
    for (const t of [b, c, d]) t.socket.destroy();
  });

  it('closes a tunnel with no traffic for idleTimeoutMs, and keeps one that is used', async () => {
    const port = await startProxy([`echo.test:${echoPort}`], { lookup: async () => '127.0.0.1', idleTimeoutMs: 400 });
    const idle = await tunnel(port, `echo.test:${echoPort}`);
    const busy = await tunnel(port, `echo.test:${echoPort}`);
    const idleClosed = once(idle.socket, 'close');
    let busyClosed = false;
    busy.socket.on('close', () => (busyClosed = true));
    busy.socket.on('data', () => undefined);
    for (let i = 0; i < 8; i++) {
      busy.socket.write('ping');
      await new Promise((r) => setTimeout(r, 100));
    }
    await idleClosed;
    expect(busyClosed).toBe(false);
    busy.socket.destroy();
  });
});

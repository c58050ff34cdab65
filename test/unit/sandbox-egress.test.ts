/**
 * The egress allowlist (pure) and the proxy that applies it, against local
 * servers: named hosts pass (CONNECT and plain HTTP), anything else gets a 403
 * with the reason, an unknown sandbox gets nothing, and a wildcard may not
 * lead to an internal address.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressAllowed, isInternalAddress, matchAllowlist, parseAllowlist } from '../../sandbox/allowlist.js';
import { EgressProxy } from '../../sandbox/egress-proxy.js';

describe('the allowlist', () => {
  const entries = parseAllowlist(['pypi.org', '*.github.com', 'files.example.com:8443', 'Trailing.Dot.ORG.', '10.1.2.3:5432']);

  it('matches exact names on 80 and 443, subdomains of a wildcard, and named ports only', () => {
    expect(matchAllowlist(entries, 'pypi.org', 443)).toBeDefined();
    expect(matchAllowlist(entries, 'PYPI.org.', 80)).toBeDefined();
    expect(matchAllowlist(entries, 'pypi.org', 22)).toBeUndefined();
    expect(matchAllowlist(entries, 'evilpypi.org', 443)).toBeUndefined();
    expect(matchAllowlist(entries, 'api.github.com', 443)).toBeDefined();
    expect(matchAllowlist(entries, 'a.b.github.com', 443)).toBeDefined();
    expect(matchAllowlist(entries, 'github.com', 443)).toBeUndefined();
    expect(matchAllowlist(entries, 'notgithub.com', 443)).toBeUndefined();
    expect(matchAllowlist(entries, 'files.example.com', 8443)).toBeDefined();
    expect(matchAllowlist(entries, 'files.example.com', 443)).toBeUndefined();
    expect(matchAllowlist(entries, 'trailing.dot.org', 443)).toBeDefined();
    expect(matchAllowlist(entries, '10.1.2.3', 5432)).toBeDefined();
    expect(matchAllowlist(entries, '10.1.2.4', 5432)).toBeUndefined();
  });

  it('lets * name any host by name on 80 and 443, never a bare address', () => {
    const any = parseAllowlist(['*']);
    expect(matchAllowlist(any, 'anything.example', 443)).toBeDefined();
    expect(matchAllowlist(any, '93.184.216.34', 443)).toBeUndefined();
  });

  it('refuses entries that are not hosts, naming them', () => {
    expect(() => parseAllowlist(['pypi.org', 'http://x.org'])).toThrow(/"http:\/\/x\.org"/);
    expect(() => parseAllowlist(['a.*.org'])).toThrow(/a\.\*\.org/);
    expect(() => parseAllowlist(['host:99999'])).toThrow(/host:99999/);
  });

  it('knows internal addresses, and lets only an address entry lead to one (never a name)', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.17.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
      expect([a, isInternalAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['93.184.216.34', '2606:2800:220:1::1', '172.32.0.1']) expect([a, isInternalAddress(a)]).toEqual([a, false]);
    const [exact, wildcard, literal] = parseAllowlist(['internal.example', '*.example', '10.0.0.5:5432']);
    expect(addressAllowed(exact as never, '10.0.0.5')).toBe(false);
    expect(addressAllowed(exact as never, '93.184.216.34')).toBe(true);
    expect(addressAllowed(literal as never, '10.0.0.5')).toBe(true);
    expect(addressAllowed(wildcard as never, '10.0.0.5')).toBe(false);
    expect(addressAllowed(wildcard as never, '93.184.216.34')).toBe(true);
  });
});

describe('the egress proxy', () => {
  let upstream: Server;
  let tcpEcho: TcpServer;
  let proxy: EgressProxy;
  let proxyPort: number;
  let upstreamPort: number;
  let echoPort: number;
  const known = new Map<string, ReturnType<typeof parseAllowlist>>();

  beforeAll(async () => {
    upstream = createServer((req, res) => res.end(`upstream saw ${req.method} ${req.url} host=${req.headers.host}`));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamPort = (upstream.address() as { port: number }).port;
    tcpEcho = createTcpServer((s) => s.pipe(s));
    tcpEcho.listen(0, '127.0.0.1');
    await once(tcpEcho, 'listening');
    echoPort = (tcpEcho.address() as { port: number }).port;
    known.set('127.0.0.1', parseAllowlist([`allowed.test:${upstreamPort}`, `echo.test:${echoPort}`, `*.wild.test:${upstreamPort}`]));
    proxy = new EgressProxy({
      host: '127.0.0.1',
      port: 0,
      allowlistFor: async (source) => known.get(source.replace(/^::ffff:/, '')),
      // The upstreams are on this machine: 127.0.0.1 is let through; a wildcard's name points at the metadata address.
      lookup: async (name) => (name === 'api.wild.test' ? '169.254.169.254' : name.endsWith('.test') ? '127.0.0.1' : Promise.reject(new Error('ENOTFOUND'))),
      internalAllowed: ['127.0.0.1'],
    });
    proxyPort = await proxy.listen();
  });
  afterAll(async () => {
    await proxy.close();
    upstream.close();
    tcpEcho.close();
  });

  function viaProxy(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: proxyPort, path: url, headers: { host: new URL(url).host } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  function tunnel(target: string): Promise<{ head: string; echoed?: string }> {
    return new Promise((resolve, reject) => {
      const s = connect(proxyPort, '127.0.0.1', () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
      let data = '';
      s.on('data', (c: Buffer) => {
        data += c.toString();
        if (data.startsWith('HTTP/1.1 200') && data.includes('\r\n\r\n') && !data.includes('ping')) s.write('ping');
        if (data.endsWith('ping')) {
          s.destroy();
          resolve({ head: data.split('\r\n')[0] ?? '', echoed: 'ping' });
        }
      });
      s.on('end', () => resolve({ head: data.split('\r\n')[0] ?? '', ...(data.includes('\r\n\r\n') ? { body: data.split('\r\n\r\n')[1] } : {}) }));
      s.on('error', reject);
    });
  }

  it('forwards plain HTTP to a named host, resolving the name itself', async () => {
    const r = await viaProxy(`http://allowed.test:${upstreamPort}/path?q=1`);
    expect(r).toEqual({ status: 200, body: `upstream saw GET /path?q=1 host=allowed.test:${upstreamPort}` });
  });

  it('tunnels CONNECT to a named host and port', async () => {
    expect(await tunnel(`echo.test:${echoPort}`)).toEqual({ head: 'HTTP/1.1 200 Connection Established', echoed: 'ping' });
  });

  it('refuses, with the reason, what the allowlist does not name', async () => {
    expect(await viaProxy(`http://other.test:${upstreamPort}/`)).toEqual({
      status: 403,
      body: `kortix egress proxy: other.test:${upstreamPort} is not allowed by the session's policy (network.allow)\n`,
    });
    expect((await tunnel(`allowed.test:22`)).head).toBe('HTTP/1.1 403 Refused');
    expect((await viaProxy(`http://api.wild.test:${upstreamPort}/`)).body).toMatch(/resolves to an internal address \(169\.254\.169\.254\)/);
  });

  it('refuses a source it knows no sandbox at', async () => {
    const saved = known.get('127.0.0.1');
    known.delete('127.0.0.1');
    try {
      expect((await viaProxy(`http://allowed.test:${upstreamPort}/`)).body).toMatch(/no sandbox with network access is known at/);
    } finally {
      if (saved) known.set('127.0.0.1', saved);
    }
  });
});

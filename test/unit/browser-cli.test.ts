/**
 * The browser driver's command line (sandbox/browser-cli.py, joined with the
 * other parts as the host runs it) against a stand-in driver socket: a driver
 * killed a moment ago can still accept a connection and then tear it down.
 * That must read as "driver down" (the host starts it again and says so),
 * not as an error the model sees (CI once saw "no answer from the browser
 * driver: [Errno 104] Connection reset by peer" right after a kill -9).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { DRIVER_SCRIPT } from '../../sandbox/browser-host.js';

/**
 * A stand-in for the driver on its abstract socket (sandbox/browser-cdp.py SOCKET_NAME, in this test's network
 * namespace), in Python as the driver is: `reset` accepts one connection and closes it with the request unread
 * (the caller's read then fails with ECONNRESET, as from a driver killed mid-connection); `answer` replies.
 */
const STAND_IN = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b'\\0kortix-browser-driver')
s.listen(1)
print('ready', flush=True)
conn, _ = s.accept()
if sys.argv[1] == 'reset':
    time.sleep(0.3)
    conn.close()
else:
    data = b''
    while not data.endswith(b'\\n'):
        data += conn.recv(65536)
    conn.sendall(b'{"ok": true, "title": "Mine"}\\n')
    conn.close()
`;
let standIn: ChildProcess | undefined;

afterEach(() => {
  standIn?.kill();
  standIn = undefined;
});

async function driverStandIn(mode: 'reset' | 'answer'): Promise<void> {
  const child = spawn('python3', ['-c', STAND_IN, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  standIn = child;
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the stand-in exited (${code})`)));
    child.stdout.once('data', () => resolve());
  });
}

function call(request: object): Promise<{ code: number | null; out: unknown }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER_SCRIPT, 'call'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out: JSON.parse(out) as unknown }));
    child.stdin.end(JSON.stringify(request));
  });
}

describe('browser-cli.py call', () => {
  it('a connection torn down before any answer (a dying driver) reads as the driver down', async () => {
    await driverStandIn('reset');
    expect(await call({ action: 'goto', url: 'about:blank', proxy: 'http://proxy:3128' })).toEqual({ code: 3, out: { ok: false, driver: 'down' } });
  });

  it('nobody listening is the driver down too', async () => {
    expect(await call({ action: 'goto', url: 'about:blank', proxy: 'http://proxy:3128' })).toEqual({ code: 3, out: { ok: false, driver: 'down' } });
  });

  it("a driver's answer is passed through as it is", async () => {
    await driverStandIn('answer');
    expect(await call({ action: 'goto', url: 'file:///workspace/a.html', proxy: 'http://proxy:3128' })).toEqual({ code: 0, out: { ok: true, title: 'Mine' } });
  });
});

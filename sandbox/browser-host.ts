/**
 * The browser of each sandbox, from the host's side. Inside the container,
 * sandbox/browser-driver.py keeps one headless Chromium (Debian's
 * chromium-headless-shell) and answers on an abstract unix socket; it runs as
 * the `browser` user (uid 1001), never as the agent's shell user, so the
 * shell can neither kill nor drive it. The driver is not baked into the
 * image: its text is sent with each start (`python3 -c`), like exec.sh.
 *
 * The host talks to it through one persistent `docker exec -i … relay` per
 * container (one JSON request a line, one answer a line), opened while the
 * container is idle in the warm pool, so a session's first action costs no
 * process start. A broken relay is reopened once; a driver that is down (the
 * relay says so) is started again and the session is told (a notice).
 */
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { saveDownloads } from './browser-downloads.js';
import type { BrowserReply, BrowserRequest } from './browser-protocol.js';
import { statusCode } from './docker-engine.js';
import { SandboxGoneError, SandboxToolError } from './errors.js';
import { execOnce } from './one-shot-exec.js';

export const BROWSER_UID = 1001;
const BROWSER_USER = `${BROWSER_UID}:${BROWSER_UID}`;
/** The driver: its five parts joined (each part's `from browser_… import *` only names the one before it). */
export const DRIVER_SCRIPT = ['browser-cdp.py', 'browser-downloads.py', 'browser-tabs.py', 'browser-driver.py', 'browser-cli.py']
  .map((f) => readFileSync(new URL(`./${f}`, import.meta.url), 'utf8'))
  .join('\n')
  .split('\n')
  .filter((line) => !line.startsWith('from browser_'))
  .join('\n');
const PAGE_SCRIPT = readFileSync(new URL('./browser-page.js', import.meta.url), 'utf8');
/** A screenshot is the largest answer (capped in the driver); anything far beyond is not the driver. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;
/** Past the action's own timeout: the driver's page helpers and the relay. */
const REPLY_GRACE_MS = 45_000;
const HEALTH_TIMEOUT_MS = 10_000;

class RelayError extends Error {
  override readonly name = 'RelayError';
}

/** One persistent `python3 -c DRIVER relay` in a container: one request at a time. */
class Relay {
  #buffer = '';
  #waiting: { resolve: (r: BrowserReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  closed = false;

  private constructor(
    private readonly stdin: NodeJS.WritableStream,
    private readonly destroy: () => void,
  ) {}

  static async open(docker: Docker, containerId: string): Promise<Relay> {
    const exec = await docker.getContainer(containerId).exec({
      Cmd: ['python3', '-c', DRIVER_SCRIPT, 'relay'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      User: BROWSER_USER,
      WorkingDir: '/tmp',
    });
    const stream = await exec.start({ hijack: true, stdin: true });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    docker.modem.demuxStream(stream, stdout, stderr);
    stderr.resume();
    const relay = new Relay(stream, () => stream.destroy());
    stdout.on('data', (chunk: Buffer) => relay.#onData(chunk.toString('utf8')));
    for (const ev of ['end', 'close', 'error']) stream.on(ev, () => relay.#fail(new RelayError('the browser relay closed')));
    return relay;
  }

  request(req: BrowserRequest | { readonly action: 'health' }, timeoutMs: number): Promise<BrowserReply> {
    const reply = this.#tail.then(
      () =>
        new Promise<BrowserReply>((resolve, reject) => {
          if (this.closed) return reject(new RelayError('the browser relay is closed'));
          const timer = setTimeout(() => this.#fail(new RelayError(`no answer from the browser within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
          this.#waiting = { resolve, reject, timer };
          this.stdin.write(`${JSON.stringify(req)}\n`);
        }),
    );
    this.#tail = reply.catch(() => undefined);
    return reply;
  }

  close(): void {
    this.#fail(new RelayError('the browser relay was closed'));
  }

  #onData(text: string): void {
    this.#buffer += text;
    if (this.#buffer.length > MAX_REPLY_BYTES) return this.#fail(new RelayError('more output from the browser relay than any answer'));
    const end = this.#buffer.indexOf('\n');
    if (end < 0) return;
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 1);
    const w = this.#waiting;
    this.#waiting = undefined;
    if (!w) return this.#fail(new RelayError('an answer from the browser relay that matches no request'));
    clearTimeout(w.timer);
    try {
      w.resolve(JSON.parse(line) as BrowserReply);
    } catch {
      w.reject(new RelayError('the browser relay answered something that is not JSON'));
    }
  }

  #fail(err: Error): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    if (this.closed) return;
    this.closed = true;
    this.destroy();
  }
}

export interface SandboxBrowsersOptions {
  /** V8 heap cap of each page (MB): a page that allocates without end crashes its tab, not the sandbox. */
  readonly heapMb: number;
  /** All downloads of one action together at most (bytes); past it they are cancelled. */
  readonly downloadMaxBytes: number;
}

/** The browsers of one host's containers: started, probed, restarted and driven through their relays. */
export class SandboxBrowsers {
  readonly #relays = new Map<string, Promise<Relay>>();

  constructor(
    private readonly docker: Docker,
    private readonly options: SandboxBrowsersOptions,
  ) {}

  /** Starts the driver and its Chromium unless they answer; the driver's health answer. */
  async start(containerId: string, proxy?: string | undefined): Promise<BrowserReply> {
    const args = ['python3', '-c', DRIVER_SCRIPT, 'start', '--heap', String(this.options.heapMb), '--download-max-bytes', String(this.options.downloadMaxBytes), ...(proxy ? ['--proxy', proxy] : [])];
    const r = await execOnce(this.docker, containerId, args, { stdin: Buffer.from(PAGE_SCRIPT), user: BROWSER_USER, maxBytes: 64 * 1024 });
    try {
      return JSON.parse(r.stdout.toString('utf8')) as BrowserReply;
    } catch {
      return { ok: false, error: `the browser did not start (exit ${r.exitCode}): ${r.stderr.toString('utf8').slice(-300)}` };
    }
  }

  /**
   * The pool's probe: true when the browser answers, starting it when its
   * driver is down (a fresh container, or one whose driver died). A browser
   * that crashed is restarted by its driver; this finds it up again.
   */
  async ensure(containerId: string): Promise<boolean> {
    try {
      const health = await this.#send(containerId, { action: 'health' }, HEALTH_TIMEOUT_MS);
      if (health.ok) return true;
      if (health.driver !== 'down') return false;
      return (await this.start(containerId)).ok;
    } catch {
      this.close(containerId);
      return false;
    }
  }

  /**
   * One action. A driver found down is started again once, and the answer
   * carries a notice (the session's pages are gone). An aborted `signal`
   * closes the relay (its answer would come for nobody).
   */
  async call(containerId: string, req: BrowserRequest, signal?: AbortSignal): Promise<BrowserReply> {
    const timeoutMs = (req.timeout_s ?? 15) * 1000 + REPLY_GRACE_MS;
    const onAbort = () => this.close(containerId);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let reply = await this.#send(containerId, req, timeoutMs);
      if (reply.driver === 'down') {
        const started = await this.start(containerId, req.proxy);
        if (!started.ok) throw new SandboxToolError(`the browser is down and could not be started again: ${started.error ?? 'no answer'}`);
        reply = await this.#send(containerId, req, timeoutMs);
        const notice = 'The browser of this sandbox had stopped and was started again: earlier tabs and page state are gone.';
        reply = { ...reply, notice: reply.notice ? `${notice} ${reply.notice}` : notice };
      }
      if (signal?.aborted) throw signal.reason;
      // Finished downloads wait in the browser user's directory: into /workspace/downloads as the sandbox user.
      return await saveDownloads(this.docker, containerId, reply, this.options.downloadMaxBytes);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Over the relay, reopened once if it broke. */
  async #send(containerId: string, req: BrowserRequest | { readonly action: 'health' }, timeoutMs: number): Promise<BrowserReply> {
    for (let attempt = 0; ; attempt++) {
      const relay = await this.#relay(containerId);
      try {
        return await relay.request(req, timeoutMs);
      } catch (err) {
        this.close(containerId);
        if (!(err instanceof RelayError) || attempt > 0 || /no answer/.test(err.message)) {
          throw new SandboxToolError(`the browser did not answer: ${(err as Error).message}`);
        }
      }
    }
  }

  #relay(containerId: string): Promise<Relay> {
    const open = this.#relays.get(containerId);
    if (open) {
      return open.then((r) => {
        if (!r.closed) return r;
        this.#relays.delete(containerId);
        return this.#relay(containerId);
      });
    }
    const opening = Relay.open(this.docker, containerId).catch((err: unknown) => {
      this.#relays.delete(containerId);
      const code = statusCode(err);
      if (code === 404 || code === 409) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone: ${(err as Error).message}`);
      throw err;
    });
    this.#relays.set(containerId, opening);
    return opening;
  }

  close(containerId: string): void {
    const r = this.#relays.get(containerId);
    this.#relays.delete(containerId);
    void r?.then((relay) => relay.close()).catch(() => undefined);
  }

  closeAll(): void {
    for (const id of [...this.#relays.keys()]) this.close(id);
  }
}

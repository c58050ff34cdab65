/**
 * A persistent exec channel into one sandbox: a single long-lived
 * `docker exec -i` running sandbox/dispatcher.sh, which runs sandbox/exec.sh
 * for each request it reads on stdin. A trivial command then costs the forks
 * of exec.sh (~10 ms here) instead of a new `docker exec` (~60-100 ms). The
 * semantics are exec.sh's: the same idempotency keys, timeouts that kill the
 * whole tree, capped output.
 *
 * One request at a time: a caller finds the channel busy and uses a one-shot
 * `docker exec` instead. Everything inside the sandbox runs as the same user
 * as the dispatcher, so a command may kill it or write into its pipes: the
 * channel then closes (or caps what it buffers), and the caller falls back to
 * a one-shot exec with the same key, which returns the first run's result.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import type Docker from 'dockerode';
import { SANDBOX_UID, WORKSPACE_DIR } from './container-spec.js';
import { EXEC_SCRIPT } from './exec-script.js';

/** The bash loop on the sandbox side (sandbox/dispatcher.sh). */
export const DISPATCHER_SCRIPT = readFileSync(new URL('./dispatcher.sh', import.meta.url), 'utf8');

/** The channel cannot serve this request (closed, broken, overflowing, too slow): use a one-shot exec. */
export class ExecChannelError extends Error {
  override readonly name = 'ExecChannelError';
}

/** What exec.sh printed for one request, and its exit status. */
export interface ChannelReply {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exitCode: number;
}

export interface ChannelRequest {
  /** Already hashed to [0-9a-f]: a directory name. */
  readonly key: string;
  readonly command: string;
  readonly timeoutSeconds: number;
  readonly limitBytes: number;
  /** Bytes of each stream kept in the capture files (exec.sh KEEP_BYTES), when more than limitBytes. */
  readonly keepBytes?: number | undefined;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * One request field for the dispatcher: "_" + the value, with backslash,
 * space and control characters as \xHH (decoded by bash's printf %b).
 */
export function encodeField(value: string): string {
  // Everything but printable ASCII and non-ASCII: space, control characters, DEL; and the backslash.
  return `_${value.replace(/[^!-~\u0080-\uffff]|\\/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
}

/** exec.sh's LIMIT_BYTES[:KEEP_BYTES] argument. */
export function limitField(request: Pick<ChannelRequest, 'limitBytes' | 'keepBytes'>): string {
  const keep = request.keepBytes ?? 0;
  return keep > request.limitBytes ? `${request.limitBytes}:${keep}` : String(request.limitBytes);
}

const STDERR_KEEP = 4096;
/** Extra time beyond the command's own timeout before the channel counts as stuck. */
const GRACE_MS = 30_000;
const PING_TIMEOUT_MS = 5_000;
/** Starting the dispatcher: two requests to the engine (create the exec, start it attached). */
export const OPEN_TIMEOUT_MS = 15_000;

interface Pending {
  readonly id: number;
  readonly resolve: (reply: ChannelReply) => void;
  readonly reject: (err: Error) => void;
  readonly maxBytes: number;
  readonly stderr: Buffer[];
  stderrBytes: number;
  timer: NodeJS.Timeout;
}

/** The dispatcher's pipes: its stdin, its stdout and stderr, and how to tear them down. */
export interface ChannelTransport {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Also emits the end of the conversation ('end', 'close' or 'error'). */
  readonly events: NodeJS.EventEmitter;
  destroy(): void;
}

export class ExecChannel {
  readonly #transport: ChannelTransport;
  readonly #marker: Buffer;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: Pending | undefined;
  /** The last request accepted: health checks and claims queue behind it. */
  #tail: Promise<unknown> = Promise.resolve();
  #queued = 0;
  #nextId = 1;
  #closed = false;

  /** A channel over a running dispatcher (`bash -c DISPATCHER_SCRIPT kortix-channel EXEC_SCRIPT marker`). */
  constructor(transport: ChannelTransport, marker: string) {
    this.#transport = transport;
    this.#marker = Buffer.from(`\n${marker} `);
    transport.stdout.on('data', (chunk: Buffer) => this.#onStdout(chunk));
    transport.stderr.on('data', (chunk: Buffer) => {
      const p = this.#pending;
      if (p && p.stderrBytes < STDERR_KEEP) {
        p.stderr.push(chunk);
        p.stderrBytes += chunk.length;
      }
    });
    const end = () => this.#fail(new ExecChannelError('the exec channel closed'));
    transport.events.on('end', end);
    transport.events.on('close', end);
    transport.events.on('error', (err: Error) => this.#fail(new ExecChannelError(`the exec channel failed: ${err.message}`)));
    transport.stdin.on('error', (err: Error) => this.#fail(new ExecChannelError(`the exec channel failed: ${err.message}`)));
  }

  /** A fresh marker: what separates answers on the dispatcher's stdout. */
  static marker(): string {
    return `KORTIX-CHANNEL-${randomBytes(12).toString('hex')}`;
  }

  /**
   * Starts the dispatcher in the container. Errors of the engine (a container
   * that is gone or stopped) propagate as dockerode reports them. An engine
   * that does not answer within `timeoutMs` fails it with ExecChannelError:
   * dockerode sets no deadline, and a claim marks its container through this
   * channel while heartbeating, so a hang here held the claim until its
   * start-to-close timeout.
   */
  static async open(docker: Docker, containerId: string, timeoutMs = OPEN_TIMEOUT_MS): Promise<ExecChannel> {
    const marker = ExecChannel.marker();
    // Aborted only before the stream is ours: aborting later would end the channel's connection.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new ExecChannelError(`no exec channel within ${timeoutMs} ms`)), timeoutMs);
    let stream: Duplex;
    try {
      const exec = await docker.getContainer(containerId).exec({
        Cmd: ['bash', '-c', DISPATCHER_SCRIPT, 'kortix-channel', EXEC_SCRIPT, marker],
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        User: `${SANDBOX_UID}:${SANDBOX_UID}`,
        WorkingDir: WORKSPACE_DIR,
        abortSignal: deadline.signal,
      });
      stream = await exec.start({ hijack: true, stdin: true, abortSignal: deadline.signal });
    } catch (err) {
      throw deadline.signal.aborted ? (deadline.signal.reason as ExecChannelError) : err;
    } finally {
      clearTimeout(timer);
    }
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    docker.modem.demuxStream(stream, stdout, stderr);
    return new ExecChannel({ stdin: stream, stdout, stderr, events: stream, destroy: () => stream.destroy() }, marker);
  }

  /** True while a request is in flight or queued: a command then takes a one-shot exec. */
  get busy(): boolean {
    return this.#pending !== undefined || this.#queued > 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves when the dispatcher answers (the container runs, its shell is
   * alive): true while no session has claimed the sandbox.
   */
  async ping(): Promise<boolean> {
    return (await this.#control('P', [])).exitCode === 0;
  }

  /**
   * Writes the claim record (/tmp/.kortix-claim) unless one exists: mkdir in
   * the container is atomic, so of two processes claiming the same idle
   * sandbox exactly one gets true.
   */
  async claim(sessionId: string, tenantId: string): Promise<boolean> {
    return (await this.#control('C', [encodeField(sessionId), encodeField(tenantId)])).exitCode === 0;
  }

  /** Makes exec.sh's working directory and timer fifo now, so that a session's first command does not. */
  async prepare(): Promise<void> {
    const { exitCode } = await this.#control('W', []);
    if (exitCode !== 0) throw new ExecChannelError(`the sandbox could not prepare its exec directory (status ${exitCode})`);
  }

  /** A short request that waits for the one in flight instead of failing. */
  #control(op: 'P' | 'C' | 'W', fields: string[]): Promise<ChannelReply> {
    this.#queued++;
    const reply = this.#tail.then(() => {
      this.#queued--;
      return this.#send(op, fields, PING_TIMEOUT_MS, 1024);
    });
    this.#tail = reply.catch(() => undefined);
    return reply;
  }

  /**
   * Runs one exec.sh request; rejects with ExecChannelError when the channel
   * cannot tell the result. An aborted `signal` (deadline, cancellation)
   * closes the channel: the dispatcher's answer would otherwise still arrive.
   */
  async run(request: ChannelRequest, signal?: AbortSignal): Promise<ChannelReply> {
    const env = Object.entries(request.env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    const fields = [request.key, String(request.timeoutSeconds), limitField(request), env, request.command].map(encodeField);
    // exec.sh prints a header and at most two capped streams; anything beyond is not exec.sh.
    const maxBytes = 2 * request.limitBytes + 4096;
    if (this.busy) return Promise.reject(new ExecChannelError('the exec channel is busy'));
    if (signal?.aborted) return Promise.reject(new ExecChannelError('the request was aborted'));
    const onAbort = () => this.#fail(new ExecChannelError('the request was aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const reply = this.#send('X', fields, request.timeoutSeconds * 1000 + GRACE_MS, maxBytes);
    this.#tail = reply.catch(() => undefined);
    return reply.finally(() => signal?.removeEventListener('abort', onAbort));
  }

  /** Ends the dispatcher (EOF on its stdin); idempotent. */
  close(): void {
    this.#fail(new ExecChannelError('the exec channel was closed'));
  }

  #send(op: 'P' | 'C' | 'W' | 'X', fields: string[], timeoutMs: number, maxBytes: number): Promise<ChannelReply> {
    if (this.#closed) return Promise.reject(new ExecChannelError('the exec channel is closed'));
    if (this.#pending) return Promise.reject(new ExecChannelError('the exec channel is busy'));
    const id = this.#nextId++;
    return new Promise<ChannelReply>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new ExecChannelError(`no answer on the exec channel within ${timeoutMs} ms`)), timeoutMs);
      this.#pending = { id, resolve, reject, maxBytes, stderr: [], stderrBytes: 0, timer };
      this.#transport.stdin.write(`${[op, String(id), ...fields].join(' ')}\n`);
    });
  }

  #onStdout(chunk: Buffer): void {
    const p = this.#pending;
    if (!p) return; // output nobody asked for (a command writing into the dispatcher's pipe)
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const at = this.#buffer.indexOf(this.#marker);
    if (at < 0) {
      if (this.#buffer.length > p.maxBytes + this.#marker.length + 64) {
        this.#fail(new ExecChannelError('more output on the exec channel than exec.sh can print'));
      }
      return;
    }
    const lineEnd = this.#buffer.indexOf(0x0a, at + this.#marker.length);
    if (lineEnd < 0) return;
    const [id, status] = this.#buffer
      .subarray(at + this.#marker.length, lineEnd)
      .toString('latin1')
      .split(' ')
      .map(Number);
    const stdout = this.#buffer.subarray(0, at);
    this.#buffer = Buffer.alloc(0);
    if (id !== p.id || !Number.isInteger(status)) {
      this.#fail(new ExecChannelError('an answer on the exec channel that matches no request'));
      return;
    }
    clearTimeout(p.timer);
    this.#pending = undefined;
    p.resolve({ stdout, stderr: Buffer.concat(p.stderr), exitCode: status as number });
  }

  #fail(err: ExecChannelError): void {
    const p = this.#pending;
    this.#pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer = Buffer.alloc(0);
    this.#transport.stdin.end();
    this.#transport.destroy();
  }
}

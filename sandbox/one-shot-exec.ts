/**
 * One `docker exec` of an argv as the sandbox user, its output collected up
 * to a cap (a command can write into the exec's pipes; the worker must not
 * buffer without end). Used for file tools and when the exec channel is busy.
 */
import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { raceAbort } from './abort.js';
import { SANDBOX_UID, WORKSPACE_DIR } from './container-spec.js';
import { statusCode } from './docker-engine.js';
import { SandboxGoneError } from './errors.js';

export interface OneShotResult {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exitCode: number;
  /** More output than `maxBytes` arrived: what was kept is not the whole. */
  readonly overflow: boolean;
}

function capped(chunks: Buffer[], max: number, onOverflow: () => void): Writable {
  let kept = 0;
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      if (kept < max) chunks.push(chunk.subarray(0, max - kept));
      if (kept + chunk.length > max) onOverflow();
      kept += chunk.length;
      done();
    },
  });
}

/**
 * Runs `cmd` once; a container that is gone or stopped is a SandboxGoneError.
 * More stdout than `maxBytes` ends the stream at once (a process inside could
 * write without end: the worker stops reading, the result says `overflow`);
 * `signal` (a deadline, the activity's cancellation) destroys the stream and
 * rejects with its reason.
 */
export async function execOnce(
  docker: Docker,
  containerId: string,
  cmd: string[],
  options: { stdin?: Buffer; env?: readonly string[]; maxBytes?: number; signal?: AbortSignal | undefined; user?: string } = {},
): Promise<OneShotResult> {
  const { stdin, env = [], maxBytes = 4 * 1024 * 1024, signal, user = `${SANDBOX_UID}:${SANDBOX_UID}` } = options;
  let exec: Docker.Exec;
  try {
    exec = await raceAbort(
      docker.getContainer(containerId).exec({
        Cmd: cmd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: stdin !== undefined,
        User: user,
        WorkingDir: WORKSPACE_DIR,
        Env: [...env],
      }),
      signal,
    );
  } catch (err) {
    const code = statusCode(err);
    if (code === 404 || code === 409) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone: ${(err as Error).message}`);
    throw err;
  }
  const stream = await raceAbort(exec.start({ hijack: true, stdin: stdin !== undefined }), signal);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let overflow = false;
  const finished = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  docker.modem.demuxStream(
    stream,
    capped(out, maxBytes, () => {
      overflow = true;
      stream.destroy();
    }),
    capped(err, 64 * 1024, () => undefined),
  );
  if (stdin !== undefined) stream.end(stdin);
  const onAbort = () => stream.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await raceAbort(finished, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  const info = await raceAbort(exec.inspect(), signal);
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitCode: info.ExitCode ?? -1, overflow };
}

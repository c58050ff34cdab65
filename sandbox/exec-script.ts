import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The bash program (sandbox/exec.sh) that runs one shell tool call inside a sandbox, passed to
 * `docker exec` as `bash -c SCRIPT kortix-exec KEY TIMEOUT LIMIT COMMAND`, or run
 * as a function by the exec channel's dispatcher (sandbox/dispatcher.sh).
 *
 * - Idempotent: the first attempt for KEY creates /tmp/.kortix-exec/KEY.lock
 *   (O_EXCL) and runs the command; a retried activity finds the lock and waits
 *   for the first run's result instead of running the command twice. The
 *   command keeps running if the worker dies, since exec'd processes outlive
 *   the client.
 * - Timeout: kills the command's whole tree, including children that left its
 *   session with setsid or nohup, and fork bombs (everything in the container
 *   except PID 1, the dispatcher and this script's own output readers).
 * - Output: each stream is captured up to LIMIT+1 bytes (the rest is drained,
 *   so the command never blocks or sees SIGPIPE); the result is printed as a
 *   header line `KORTIX-EXEC <rc> <timedout> <outBytes> <errBytes>` followed by
 *   at most LIMIT bytes of stdout, then at most LIMIT bytes of stderr.
 */
export const EXEC_SCRIPT = readFileSync(fileURLToPath(new URL('./exec.sh', import.meta.url)), 'utf8');

/** The parsed result of one run of EXEC_SCRIPT. */
export interface ExecResult {
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly truncated: boolean;
  /** Bytes of each stream the capture files hold (at most the keep size + 1: more means the capture was cut too). */
  readonly stdoutBytes?: number;
  readonly stderrBytes?: number;
}

/** Parses the script's framed output; undefined when the script itself did not finish. */
export function parseExecOutput(raw: Buffer, limit: number): ExecResult | undefined {
  const newline = raw.indexOf(0x0a);
  if (newline < 0) return undefined;
  const header = raw.subarray(0, newline).toString('utf8').split(' ');
  if (header[0] !== 'KORTIX-EXEC' || header.length !== 5) return undefined;
  const [, rc, timedOut, outBytes, errBytes] = header.map((h) => Number(h.trim()));
  if (![rc, timedOut, outBytes, errBytes].every((n) => Number.isInteger(n) && (n as number) >= 0)) return undefined;
  const outLen = Math.min(outBytes as number, limit);
  const errLen = Math.min(errBytes as number, limit);
  const body = raw.subarray(newline + 1);
  if (body.length < outLen + errLen) return undefined;
  const isTimeout = timedOut === 1;
  const truncated = (outBytes as number) > limit || (errBytes as number) > limit;
  return {
    exitCode: isTimeout ? null : Number(rc),
    timedOut: isTimeout,
    stdout: body.subarray(0, outLen).toString('utf8'),
    stderr: body.subarray(outLen, outLen + errLen).toString('utf8'),
    truncated,
    // What the capture files hold, for the activity that keeps the whole output (exec.sh KEEP_BYTES).
    ...(truncated ? { stdoutBytes: outBytes as number, stderrBytes: errBytes as number } : {}),
  };
}

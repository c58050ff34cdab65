/**
 * What a shell call past its host deadline leaves behind is killed. Its command outlived its timeout: exec.sh's
 * timer runs as the same user, so the command can stop or kill it, or stop exec.sh itself.
 */
import type Docker from 'dockerode';
import { SandboxToolError } from './errors.js';
import { execOnce } from './one-shot-exec.js';

/**
 * As exec.sh's own timeout does, every process of the sandbox user but PID 1 is killed (`kill -1`: all the caller
 * may signal, itself excepted), again while any is left, since a fork bomb forks while the kernel walks the list.
 * The browser runs as another user and stays. It forks nothing: `kill` is bash's builtin, and the exec itself
 * joins the container's pids cgroup without a fork there, so a command that took every process slot the sandbox
 * has is reaped too (test/integration/deadline-reap.test.ts).
 */
const REAP_SCRIPT = 'for ((i = 0; i < 100; i++)); do kill -KILL -1 2>/dev/null || exit 0; done';
/** The reap's own limit: with the deadline's grace it stays well inside the execTool activity's margin (timeout + 60 s). */
const REAP_TIMEOUT_MS = 5_000;

/** The error of a shell call past its deadline, once what its command started is killed (REAP_SCRIPT). */
export async function reapPastDeadline(docker: Docker, containerId: string, deadlineMs: number): Promise<SandboxToolError> {
  const what = `the sandbox gave no complete answer within ${Math.round(deadlineMs / 1000)} s`;
  try {
    await execOnce(docker, containerId, ['bash', '-c', REAP_SCRIPT], { maxBytes: 4096, signal: AbortSignal.timeout(REAP_TIMEOUT_MS) });
    return new SandboxToolError(`${what}: every process of the sandbox's user was killed`);
  } catch (err) {
    return new SandboxToolError(`${what}, and killing the sandbox user's processes failed: ${(err as Error).message}`);
  }
}

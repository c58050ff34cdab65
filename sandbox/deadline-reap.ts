/**
 * What a shell call past its host deadline leaves behind is killed. Its command outlived its timeout: exec.sh's
 * timer runs as the same user, so the command can stop or kill it, or stop exec.sh itself.
 */
import type Docker from 'dockerode';
import { KILL_SANDBOX_USER } from './container-spec.js';
import { SandboxToolError } from './errors.js';
import { execOnce } from './one-shot-exec.js';

/**
 * As exec.sh's own timeout does, every process of the sandbox user but PID 1 is killed (KILL_SANDBOX_USER).
 * The browser runs as another user and stays. It runs after PID 1's own reap (SANDBOX_INIT, on SIGUSR1), which
 * needs no process slot: an exec's runtime needs several, and in a sandbox whose command took every slot of its pids
 * limit it failed to start ("read init-p: connection reset by peer", exit 126) while the command ran on
 * (test/integration/deadline-reap.test.ts).
 */
const REAP_SCRIPT = `${KILL_SANDBOX_USER} 2>/dev/null`;
/** The reap's own limit: with the deadline's grace it stays well inside the execTool activity's margin (timeout + 60 s). */
const REAP_TIMEOUT_MS = 5_000;

/** The error of a shell call past its deadline, once what its command started is killed (REAP_SCRIPT). */
export async function reapPastDeadline(docker: Docker, containerId: string, deadlineMs: number): Promise<SandboxToolError> {
  const what = `the sandbox gave no complete answer within ${Math.round(deadlineMs / 1000)} s`;
  try {
    // PID 1 kills first (SANDBOX_INIT's SIGUSR1): it needs no process slot, where the exec below needs several.
    await docker.getContainer(containerId).kill({ signal: 'SIGUSR1' });
    // PID 1's kills may still be running and take this exec too (137), or not yet have freed its slots (126): again.
    const signal = AbortSignal.timeout(REAP_TIMEOUT_MS);
    for (let attempt = 1; ; attempt++) {
      const reap = await execOnce(docker, containerId, ['bash', '-c', REAP_SCRIPT], { maxBytes: 4096, signal });
      if (reap.exitCode === 0) break;
      if (attempt === 3) throw new Error(`the reap's exec ended with ${reap.exitCode}: ${reap.stderr.toString('utf8').slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    return new SandboxToolError(`${what}: every process of the sandbox's user was killed`);
  } catch (err) {
    return new SandboxToolError(`${what}, and killing the sandbox user's processes failed: ${(err as Error).message}`);
  }
}

/**
 * Files a sandbox gets for secrets, written through `docker exec` stdin (never
 * an argument or an environment variable, which /proc would show):
 * - the egress proxy's CA, for sandboxes whose secrets the proxy injects
 *   (container-spec.ts EGRESS_CA_FILES; the bundle is the image's roots + the CA);
 * - a secret's value mounted for ONE approved shell call: a 0400 file on the
 *   /run/secrets tmpfs, written just before the command and removed after it
 *   (activities/secret-mounts.ts), whatever its end.
 */
import type Docker from 'dockerode';
import { mountPathProblem } from '../domain/secret-binding.js';
import { EGRESS_CA_FILES } from './container-spec.js';
import { SandboxRequestError, SandboxToolError } from './errors.js';
import { execOnce } from './one-shot-exec.js';

/** What makes a command trust the bundle (container-spec.ts sets the same at create on cold sandboxes). */
export const EGRESS_CA_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'PIP_CERT'].map((k) => [k, EGRESS_CA_FILES.bundle]).concat([['NODE_EXTRA_CA_CERTS', EGRESS_CA_FILES.ca]]),
);

export async function installEgressCa(docker: Docker, containerId: string, caPem: string): Promise<void> {
  const { dir, bundle, ca } = EGRESS_CA_FILES;
  const script = [
    'set -e; umask 022',
    `mkdir -p ${dir}`,
    `cat > ${ca}.tmp`,
    `{ cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; cat ${ca}.tmp; } > ${bundle}.tmp`,
    `mv ${ca}.tmp ${ca}; mv ${bundle}.tmp ${bundle}`,
  ].join('; ');
  const r = await execOnce(docker, containerId, ['bash', '-c', script], { stdin: Buffer.from(caPem), maxBytes: 4096 });
  if (r.exitCode !== 0) throw new SandboxToolError(`cannot install the egress CA in the sandbox (status ${r.exitCode}): ${r.stderr.toString('utf8').slice(0, 300)}`);
}

export interface SecretFile {
  readonly name: string;
  /** A file directly under /run/secrets (domain/secret-binding.ts mountPathProblem). */
  readonly path: string;
  readonly value: string;
}

/**
 * The mount's write: any name already there (a link or fifo a command left)
 * is unlinked, then the file is created with O_EXCL (noclobber) so that it is
 * never written through a link; umask 0377 makes it 0400, and the exec's user
 * (the sandbox user) owns it.
 */
const WRITE_SCRIPT = 'set -e; umask 0377; rm -f -- "$1"; set -C; cat > "$1"; [ -f "$1" ] && [ ! -L "$1" ]';

function checkPath(path: string): void {
  const problem = mountPathProblem(path);
  if (problem) throw new SandboxRequestError(`cannot mount a secret at ${JSON.stringify(path)}: ${problem}`);
}

/** Removes these files (a no-op for those not there); a sandbox that cannot be reached fails. */
export async function removeSecretFiles(docker: Docker, containerId: string, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  for (const p of paths) checkPath(p);
  const r = await execOnce(docker, containerId, ['rm', '-f', '--', ...paths], { maxBytes: 4096 });
  if (r.exitCode !== 0) throw new SandboxToolError(`cannot remove mounted secret files (status ${r.exitCode}): ${r.stderr.toString('utf8').slice(0, 300)}`);
}

/**
 * Writes each value to its file on the sandbox's /run/secrets tmpfs for one
 * command (through `docker exec` stdin: never an argument or environment
 * variable, which /proc would show). A write that fails removes what was written.
 */
export async function writeSecretFiles(docker: Docker, containerId: string, files: readonly SecretFile[]): Promise<void> {
  for (const f of files) checkPath(f.path);
  try {
    for (const f of files) {
      const r = await execOnce(docker, containerId, ['bash', '-c', WRITE_SCRIPT, 'mount', f.path], { stdin: Buffer.from(f.value, 'utf8'), maxBytes: 4096 });
      if (r.exitCode !== 0) throw new SandboxToolError(`cannot mount secret ${f.name} at ${f.path} (status ${r.exitCode})`);
    }
  } catch (err) {
    await removeSecretFiles(docker, containerId, files.map((f) => f.path)).catch(() => undefined);
    throw err;
  }
}

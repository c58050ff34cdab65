/**
 * Files a sandbox gets for secrets, written through `docker exec` stdin (never
 * an argument or an environment variable, which /proc would show):
 * - the egress proxy's CA, for sandboxes whose secrets the proxy injects
 *   (container-spec.ts EGRESS_CA_FILES; the bundle is the image's roots + the CA);
 * - a secret's value mounted for ONE approved tool call: a private folder
 *   under /tmp made before the command and removed after it, whatever its end.
 */
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { EGRESS_CA_FILES } from './container-spec.js';
import { SandboxToolError } from './errors.js';
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

/** The environment variable naming a mounted secret's file: `KORTIX_SECRET_FILE_GITHUB_TOKEN` for `github-token`. */
export function secretFileVariable(name: string): string {
  return `KORTIX_SECRET_FILE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export interface MountedSecrets {
  readonly dir: string;
  /** Variable → file, for the command's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Removes the folder (idempotent). */
  remove(): Promise<void>;
}

/** Writes each value to `<dir>/<name>` (0400, a 0700 folder of the sandbox user) for one command. */
export async function mountSecrets(docker: Docker, containerId: string, secrets: readonly { name: string; value: string }[]): Promise<MountedSecrets> {
  const dir = `/tmp/.kortix-secrets-${randomBytes(8).toString('hex')}`;
  const remove = async () => {
    await execOnce(docker, containerId, ['rm', '-rf', '--', dir], { maxBytes: 4096 }).catch(() => undefined);
  };
  const env: Record<string, string> = {};
  try {
    for (const s of secrets) {
      const file = `${dir}/${s.name}`;
      const r = await execOnce(docker, containerId, ['bash', '-c', 'set -e; umask 077; mkdir -p "$1"; cat > "$2"; chmod 0400 "$2"', 'mount', dir, file], {
        stdin: Buffer.from(s.value, 'utf8'),
        maxBytes: 4096,
      });
      if (r.exitCode !== 0) throw new SandboxToolError(`cannot mount secret ${s.name} (status ${r.exitCode})`);
      env[secretFileVariable(s.name)] = file;
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { dir, env: { ...env, KORTIX_SECRETS_DIR: dir }, remove };
}

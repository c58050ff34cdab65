/**
 * A secret mounted for one approved shell call (issue 15: where the egress
 * proxy cannot inject it, e.g. a CLI that reads a token file). The workflow
 * gates every call with `mount_secrets` and passes `mounts` only once the gate
 * is approved; here the files are written just before the command and removed
 * right after it, whatever its end (exit, timeout, cancel, a failed exec).
 * Every call of a session with mountable secrets first removes whatever a
 * crashed worker may have left at their paths, so no later call reads one.
 * The value is masked in the output like every secret of the session.
 */
import type { DockerSandboxHost } from '../sandbox/docker-host.js';
import { SandboxToolError } from '../sandbox/errors.js';
import { mountableSecrets } from '../domain/secret-names.js';
import { MIN_SECRET_CHARS } from '../secrets/mask.js';
import type { SecretProvider } from '../secrets/provider.js';
import { secretValue } from './session-secrets.js';
import type { ExecToolInput } from './types.js';

export interface SecretMountDeps {
  readonly host: Pick<DockerSandboxHost, 'writeSecretFiles' | 'removeSecretFiles'>;
  readonly provider?: SecretProvider | undefined;
}

/** The files this call mounts (checked against the session's own paths); refuses a call that asks without an approved gate. */
function approvedMounts(input: ExecToolInput, mountable: ReadonlyMap<string, string>): { name: string; path: string }[] {
  const asked = input.call.name === 'shell' ? (input.call.args.mount_secrets ?? []) : [];
  if (asked.length === 0) return [];
  if (!input.mounts) throw new SandboxToolError(`mount_secrets (${asked.join(', ')}) needs an approved gate: nothing was mounted and the command did not run`);
  const granted = new Map(input.mounts.secrets.map((m) => [m.name, m.path]));
  return asked.map((name) => {
    const path = mountable.get(name);
    if (path === undefined || granted.get(name) !== path) throw new SandboxToolError(`secret ${name} was not approved to be mounted at its path: the command did not run`);
    return { name, path };
  });
}

/** Runs `run` with the call's approved secret files in place, and none of the session's other ones. */
export async function withSecretMounts<T>(deps: SecretMountDeps, input: ExecToolInput, run: () => Promise<T>): Promise<T> {
  const mountable = mountableSecrets(input.secrets);
  if (mountable.size === 0) {
    if (input.call.name === 'shell' && input.call.args.mount_secrets) throw new SandboxToolError('this session has no secret that can be mounted: the command did not run');
    return run();
  }
  const containerId = input.lease.containerId;
  const mounts = approvedMounts(input, mountable);
  const mine = new Set(mounts.map((m) => m.path));
  // Left by a call whose worker died before its cleanup.
  await deps.host.removeSecretFiles(containerId, [...new Set(mountable.values())].filter((p) => !mine.has(p)));
  if (mounts.length === 0) return run();
  const files = [];
  for (const m of mounts) {
    const value = await secretValue(deps.provider, input.session, m.name);
    // Output is masked only for values of MIN_SECRET_CHARS or more (shorter ones would blank ordinary text): a shorter one could be printed as is.
    if (value.length < MIN_SECRET_CHARS) throw new SandboxToolError(`secret ${m.name} is shorter than ${MIN_SECRET_CHARS} characters, too short to be masked in the output: it is not mounted and the command did not run`);
    files.push({ ...m, value });
  }
  await deps.host.writeSecretFiles(containerId, files);
  try {
    return await run();
  } finally {
    await deps.host.removeSecretFiles(containerId, [...mine]);
  }
}

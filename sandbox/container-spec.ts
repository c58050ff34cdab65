/**
 * The one place where a sandbox container's isolation is decided. Every
 * container and workspace volume the platform creates comes from here.
 */
import type Docker from 'dockerode';

/** Labels on every container and volume: how a host finds its own, after any restart. */
export const LABELS = {
  managed: 'dev.kortix.managed',
  host: 'dev.kortix.host',
  pool: 'dev.kortix.pool',
  session: 'dev.kortix.session',
  tenant: 'dev.kortix.tenant',
} as const;

export const SANDBOX_UID = 1000;
export const WORKSPACE_DIR = '/workspace';

/**
 * PID 1 of a sandbox: a shell that only reaps orphans. The kernel ignores
 * signals to PID 1 that it has no handler for, so a command inside the
 * container cannot stop its own sandbox; a timeout that kills every other
 * process only restarts the sleep.
 */
export const SANDBOX_INIT = 'trap "exit 0" TERM INT; while :; do sleep 86400 & wait $!; done';

export interface SandboxLimits {
  readonly memoryMb: number;
  readonly cpus: number;
  readonly pidsLimit: number;
  readonly workspaceMb: number;
  readonly tmpMb: number;
}

export interface SandboxSpecInput {
  readonly image: string;
  readonly name: string;
  readonly volumeName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly limits: SandboxLimits;
  /** The JSON text of a seccomp profile; Docker's default profile applies without one. */
  readonly seccompProfile?: string | undefined;
}

/** A size-capped tmpfs volume owned by the sandbox user: the session's workspace. */
export function workspaceVolumeSpec(input: SandboxSpecInput): Docker.VolumeCreateOptions {
  return {
    Name: input.volumeName,
    Driver: 'local',
    DriverOpts: {
      type: 'tmpfs',
      device: 'tmpfs',
      o: `size=${input.limits.workspaceMb}m,uid=${SANDBOX_UID},gid=${SANDBOX_UID},mode=0755,nosuid,nodev`,
    },
    Labels: { ...input.labels },
  };
}

/** The container: non-root, no capabilities, read-only root, no network, bounded resources. */
export function sandboxContainerSpec(input: SandboxSpecInput): Docker.ContainerCreateOptions {
  const memoryBytes = input.limits.memoryMb * 1024 * 1024;
  const securityOpt = ['no-new-privileges:true'];
  if (input.seccompProfile) securityOpt.push(`seccomp=${input.seccompProfile}`);
  return {
    name: input.name,
    Image: input.image,
    Cmd: ['bash', '-c', SANDBOX_INIT],
    User: `${SANDBOX_UID}:${SANDBOX_UID}`,
    WorkingDir: WORKSPACE_DIR,
    Env: ['HOME=/workspace', 'LANG=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin', 'PYTHONDONTWRITEBYTECODE=1'],
    Labels: { ...input.labels },
    NetworkDisabled: true,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Privileged: false,
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: securityOpt,
      IpcMode: 'private',
      PidMode: '',
      UTSMode: '',
      UsernsMode: '',
      Memory: memoryBytes,
      MemorySwap: memoryBytes,
      NanoCpus: Math.round(input.limits.cpus * 1e9),
      PidsLimit: input.limits.pidsLimit,
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }],
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${input.limits.tmpMb}m,mode=1777` },
      Mounts: [{ Type: 'volume', Source: input.volumeName, Target: WORKSPACE_DIR, ReadOnly: false }],
      Binds: [],
      Devices: [],
      RestartPolicy: { Name: 'no' },
      AutoRemove: false,
      Init: false,
    },
  };
}

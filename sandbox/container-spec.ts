/**
 * The one place where a sandbox container's isolation is decided. Every
 * container and workspace volume the platform creates comes from here, and
 * so do the names and labels by which a host finds its own after a restart.
 */
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { SECRET_MOUNT_DIR } from '../domain/secret-binding.js';
import type { SandboxSecrets } from './egress-broker.js';
import { SandboxRequestError } from './errors.js';

/** Labels on every container and volume: how a host finds its own, after any restart. Set at create, never changed. */
export const LABELS = {
  managed: 'dev.kortix.managed',
  host: 'dev.kortix.host',
  pool: 'dev.kortix.pool',
  /** The worker process that created the container (diagnostics only). */
  instance: 'dev.kortix.instance',
  /** Hash of everything that shapes a container (image id, limits, seccomp): idle ones of another spec are recycled. */
  spec: 'dev.kortix.spec',
  /** Set at create on cold containers only; a warm container's session is in its name. */
  session: 'dev.kortix.session',
  tenant: 'dev.kortix.tenant',
  /** The hosts an egress-enabled container may reach (comma-separated), read back by the egress proxy. */
  egress: 'dev.kortix.egress',
  /** The hosts it may reach once approved (`network.approve`, comma-separated): the proxy tells it how to ask. */
  egressApprove: 'dev.kortix.egress-approve',
  /** The secrets bound to hosts (JSON: tenant, names, hosts, how to inject; never values), read back by the egress proxy. */
  egressSecrets: 'dev.kortix.egress-secrets',
} as const;

export const SANDBOX_UID = 1000;
export const WORKSPACE_DIR = '/workspace';

/**
 * Kills every process the caller may signal but itself (`kill -1`), again while any is left, since a fork bomb forks
 * while the kernel walks the list; builtins only, so it needs no process slot. PID 1 runs it on SIGUSR1, and the
 * deadline reap's exec after it (sandbox/deadline-reap.ts).
 */
export const KILL_SANDBOX_USER = 'for ((i = 0; i < 100; i++)); do kill -KILL -1 || break; done';

/**
 * PID 1 of a sandbox: a shell that reaps orphans. It ignores every other
 * signal a process in the container could send it (the kernel drops SIGKILL
 * and SIGSTOP to a namespace's init from inside), so a command cannot stop
 * its own sandbox; a timeout that kills every other process only restarts
 * the sleep. The host removes containers with SIGKILL from outside.
 * SIGUSR1 is the host's reap of a call past its deadline (sandbox/deadline-reap.ts):
 * every other process of the sandbox user is killed with builtins, so it needs
 * no process slot, where a `docker exec` needs several and finds none in a
 * sandbox whose command took its whole pids limit. A command that sends it
 * only kills its own session's processes, itself included.
 * Its output goes nowhere: a command writing into /proc/1/fd/1 writes into
 * /dev/null, not into a log on the host.
 */
export const SANDBOX_INIT = `exec </dev/null >/dev/null 2>&1; trap "" TERM INT HUP QUIT USR2 PIPE ALRM; trap '${KILL_SANDBOX_USER}' USR1; while :; do sleep 86400 & wait $!; done`;

export interface SandboxLimits {
  readonly memoryMb: number;
  readonly cpus: number;
  readonly pidsLimit: number;
  readonly workspaceMb: number;
  readonly tmpMb: number;
}

/** Where an egress-enabled sandbox sends its traffic: an internal network and the allowlisting proxy on it. */
export interface EgressAttachment {
  readonly network: string;
  /** http://<gateway>:<port>, given to the sandbox as HTTP(S)_PROXY. */
  readonly proxyUrl: string;
  readonly allow: readonly string[];
  /** Hosts reachable only after a grant (network.approve). */
  readonly approve?: readonly string[] | undefined;
  /** Secrets the proxy adds to requests for their hosts: the sandbox then trusts the proxy's CA (EGRESS_CA_FILES). */
  readonly secrets?: SandboxSecrets | undefined;
}

/** Where a sandbox with bound secrets finds the egress proxy's CA: the bundle (system roots + the CA) and the CA alone. */
export const EGRESS_CA_FILES = { dir: '/tmp/.kortix-ca', bundle: '/tmp/.kortix-ca/ca-bundle.pem', ca: '/tmp/.kortix-ca/egress-ca.pem' } as const;

/** The variables that make common clients trust the bundle (OpenSSL, Python requests, curl, git, pip; Node adds the CA). */
function caEnv(): string[] {
  const bundle = EGRESS_CA_FILES.bundle;
  return [
    `SSL_CERT_FILE=${bundle}`,
    `REQUESTS_CA_BUNDLE=${bundle}`,
    `CURL_CA_BUNDLE=${bundle}`,
    `GIT_SSL_CAINFO=${bundle}`,
    `PIP_CERT=${bundle}`,
    `NODE_EXTRA_CA_CERTS=${EGRESS_CA_FILES.ca}`,
  ];
}

export interface SandboxSpecInput {
  readonly image: string;
  readonly name: string;
  readonly volumeName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly limits: SandboxLimits;
  /** The JSON text of a seccomp profile (sandbox/seccomp.json); Docker's default profile applies without one. */
  readonly seccompProfile?: string | undefined;
  /** Without it the container has no network at all (`none`). */
  readonly egress?: EgressAttachment | undefined;
  /**
   * The host's egress proxy (http://<gateway>:<port>), for a container started without `egress`: it
   * starts on no network (`none`) with the proxy in its environment, and joins the egress network at
   * claim when its session's policy names hosts (EgressGateway.connect). Environment is fixed at
   * create; the gateway's address is stable for the network's life (and part of the spec hash).
   */
  readonly proxyUrl?: string | undefined;
  /** An AppArmor profile loaded on the host (sandbox/apparmor.ts); Docker's default applies without one. */
  readonly appArmorProfile?: string | undefined;
  /** Where the container's uid/gid 0 lies on the host when the engine remaps users (see remappedRoot). */
  readonly remappedRoot?: RemappedRoot | undefined;
  /** How often the engine runs the image's HEALTHCHECK in the container (engineHealthCheck); 0: never. */
  readonly healthCheckIntervalMs: number;
}

/**
 * The engine's health check of a sandbox: the image's own test (sandbox/Dockerfile's HEALTHCHECK, kept for
 * docker-bench-security 4.6 and for `docker ps`) at the host's interval, or none at 0. Each check is an exec in
 * the container: ~37 ms of the machine's CPU in runc, the shim, dockerd and the check's bash (`npm run bench --
 * --only=sandbox-cpu`). At the image's 30 s that was ~1.2 ms a second per sandbox, an eighth of two cores at 200
 * sandboxes; the pool's own probes do not need it (they run over the exec channel), so the platform runs it rarely.
 */
function engineHealthCheck(intervalMs: number): Docker.HealthConfig {
  // An empty Test keeps the image's; the image's timeout, start period and retries stay too.
  return intervalMs > 0 ? { Interval: intervalMs * 1e6 } : { Test: ['NONE'] };
}

/** The host uid and gid of a container's root under dockerd's `userns-remap`. */
export interface RemappedRoot {
  readonly uid: number;
  readonly gid: number;
}

/**
 * The remapped root of an engine that runs with `userns-remap` (its security
 * options name `userns`, and its root directory ends in `<uid>.<gid>`),
 * undefined for one that does not remap.
 */
export function remappedRoot(info: { SecurityOptions?: string[] | undefined; DockerRootDir?: string | undefined }): RemappedRoot | undefined {
  if (!(info.SecurityOptions ?? []).some((o) => o === 'name=userns' || o.startsWith('name=userns,'))) return undefined;
  const m = /\/(\d+)\.(\d+)\/?$/.exec(info.DockerRootDir ?? '');
  if (!m) throw new Error(`the engine remaps users, but its root directory ${info.DockerRootDir ?? '(none)'} does not say to which ids`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** Identifiers safe inside a container name and a label value. */
const NAME_SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Container names of one host's pool. The name is the claim record: a pooled
 * container is renamed from its idle name to its session's name at claim,
 * which Docker does atomically (a name exists once per engine), so two claims
 * can never take the same container and a restarted worker reads from names
 * which containers are idle and which session holds each of the others.
 */
export class SandboxNames {
  readonly #prefix: string;

  constructor(pool: string, hostId: string) {
    this.#prefix = `kortix-${createHash('sha256').update(`${pool}/${hostId}`).digest('hex').slice(0, 10)}-`;
  }

  idle(suffix: string): string {
    return `${this.#prefix}idle-${suffix}`;
  }

  /** Whether a name (a container's, or a workspace volume's: the container's name and `-ws-…`) is this pool's. */
  owns(name: string): boolean {
    return (name.startsWith('/') ? name.slice(1) : name).startsWith(this.#prefix);
  }

  /** The session's container name; throws SandboxRequestError for an id that cannot be part of a name. */
  session(sessionId: string): string {
    if (!NAME_SAFE.test(sessionId)) {
      throw new SandboxRequestError(`session id ${JSON.stringify(sessionId.slice(0, 80))} must match ${NAME_SAFE.source} to name a sandbox`);
    }
    return `${this.#prefix}s-${sessionId}`;
  }

  /** What a name of this pool says: idle, held by a session, or unknown (a leftover). */
  parse(name: string): { kind: 'idle' } | { kind: 'session'; sessionId: string } | { kind: 'unknown' } {
    const bare = name.startsWith('/') ? name.slice(1) : name;
    if (!bare.startsWith(this.#prefix)) return { kind: 'unknown' };
    const rest = bare.slice(this.#prefix.length);
    if (rest.startsWith('idle-')) return { kind: 'idle' };
    if (rest.startsWith('s-') && NAME_SAFE.test(rest.slice(2))) return { kind: 'session', sessionId: rest.slice(2) };
    return { kind: 'unknown' };
  }
}

/** A short hash of the inputs that make two containers interchangeable. */
export function specHash(parts: {
  imageId: string;
  limits: SandboxLimits;
  seccompProfile?: string | undefined;
  appArmorProfile?: string | undefined;
  proxyUrl?: string | undefined;
  healthCheckIntervalMs: number;
}): string {
  // The proxy only when there is one: hosts without it keep their hashes (and their idle containers).
  const proxy = parts.proxyUrl ? [parts.proxyUrl] : [];
  return createHash('sha256')
    .update(JSON.stringify([parts.imageId, parts.limits, parts.seccompProfile ?? '', SANDBOX_INIT, parts.appArmorProfile ?? '', LOG_CONFIG, SECRETS_TMPFS, ...proxy, engineHealthCheck(parts.healthCheckIntervalMs)]))
    .digest('hex')
    .slice(0, 16);
}

/**
 * A size-capped tmpfs volume owned by the sandbox user: the session's
 * workspace. The engine mounts it on the host, where the kernel reads uid=
 * and gid=: under userns-remap the sandbox user is the remapped root + 1000.
 */
export function workspaceVolumeSpec(input: SandboxSpecInput): Docker.VolumeCreateOptions {
  const uid = (input.remappedRoot?.uid ?? 0) + SANDBOX_UID;
  const gid = (input.remappedRoot?.gid ?? 0) + SANDBOX_UID;
  return {
    Name: input.volumeName,
    Driver: 'local',
    DriverOpts: {
      type: 'tmpfs',
      device: 'tmpfs',
      o: `size=${input.limits.workspaceMb}m,uid=${uid},gid=${gid},mode=0755,nosuid,nodev`,
    },
    Labels: { ...input.labels },
  };
}

/**
 * The workspace mount, carrying the volume's own options: should the volume
 * be gone when the container is made (removed as unused in the moment between
 * the two), Docker makes it again from these, capped and labelled, never as
 * a plain directory on the host's disk without a size limit.
 */
function workspaceMount(input: SandboxSpecInput): Docker.MountSettings {
  const volume = workspaceVolumeSpec(input);
  return {
    Type: 'volume',
    Source: input.volumeName,
    Target: WORKSPACE_DIR,
    ReadOnly: false,
    VolumeOptions: { NoCopy: false, Labels: volume.Labels ?? {}, DriverConfig: { Name: volume.Driver ?? 'local', Options: volume.DriverOpts ?? {} } },
  };
}

/**
 * Where a secret is mounted for one approved shell call (sandbox/secret-files.ts): a small tmpfs, so a
 * value never reaches a disk; writable by the sandbox user like /tmp (uid= options are read in the
 * engine's namespace, which userns-remap shifts). Part of the spec hash: older idle containers lack it.
 */
const SECRETS_TMPFS = 'rw,nosuid,nodev,noexec,size=1m,mode=1777';

/**
 * No container log at all: whatever reaches the container's stdout (PID 1's
 * fds, through /proc/1/fd/1) would otherwise fill the host's json-file log.
 */
const LOG_CONFIG = { Type: 'none' } as const;

const BASE_ENV = ['HOME=/workspace', 'LANG=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin', 'PYTHONDONTWRITEBYTECODE=1'];

/** Proxy variables in both cases: curl, pip and git read the lower-case ones, others the upper-case ones. */
function proxyEnv(proxyUrl: string): string[] {
  const vars = { HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, ALL_PROXY: proxyUrl, NO_PROXY: 'localhost' };
  return Object.entries(vars).flatMap(([k, v]) => [`${k}=${v}`, `${k.toLowerCase()}=${v}`]);
}

/**
 * The container: uid 1000, no capabilities, no new privileges, the repo's
 * seccomp profile (and AppArmor profile where the host has AppArmor), no log, read-only root, size-capped tmpfs for /tmp, /dev/shm and
 * the workspace, memory/CPU/pids limits, private namespaces, no host paths,
 * and no network unless `egress` names the internal network of the proxy
 * (or, with `proxyUrl`, until the claim connects it there).
 */
export function sandboxContainerSpec(input: SandboxSpecInput): Docker.ContainerCreateOptions {
  const memoryBytes = input.limits.memoryMb * 1024 * 1024;
  const securityOpt = ['no-new-privileges:true'];
  if (input.seccompProfile) securityOpt.push(`seccomp=${input.seccompProfile}`);
  if (input.appArmorProfile) securityOpt.push(`apparmor=${input.appArmorProfile}`);
  const egress = input.egress;
  const proxyUrl = egress?.proxyUrl ?? input.proxyUrl;
  // CgroupnsMode (API 1.41) is missing from dockerode's types: the sandbox sees only its own cgroup.
  const hostConfig: Docker.HostConfig & { CgroupnsMode: 'private' } = {
    NetworkMode: egress ? egress.network : 'none',
    // The proxy resolves names; the sandbox gets no resolver it could use to leak data (also once it joins the network at claim).
    ...(proxyUrl ? { Dns: ['0.0.0.0'], DnsSearch: [], DnsOptions: [] } : {}),
    ReadonlyRootfs: true,
    Privileged: false,
    CapDrop: ['ALL'],
    CapAdd: [],
    SecurityOpt: securityOpt,
    IpcMode: 'private',
    PidMode: '',
    UTSMode: '',
    UsernsMode: '',
    CgroupnsMode: 'private',
    Memory: memoryBytes,
    MemorySwap: memoryBytes,
    // The kernel's OOM killer takes a sandbox before anything else on the host.
    OomScoreAdj: 500,
    NanoCpus: Math.round(input.limits.cpus * 1e9),
    PidsLimit: input.limits.pidsLimit,
    Ulimits: [
      { Name: 'nofile', Soft: 1024, Hard: 1024 },
      { Name: 'core', Soft: 0, Hard: 0 },
    ],
    ShmSize: input.limits.tmpMb * 1024 * 1024,
    Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${input.limits.tmpMb}m,mode=1777`, [SECRET_MOUNT_DIR]: SECRETS_TMPFS },
    Mounts: [workspaceMount(input)],
    Binds: [],
    Devices: [],
    RestartPolicy: { Name: 'no' },
    LogConfig: { ...LOG_CONFIG, Config: {} },
    AutoRemove: false,
    Init: false,
  };
  return {
    name: input.name,
    Image: input.image,
    Cmd: ['bash', '-c', SANDBOX_INIT],
    User: `${SANDBOX_UID}:${SANDBOX_UID}`,
    WorkingDir: WORKSPACE_DIR,
    Env: [...BASE_ENV, ...(proxyUrl ? proxyEnv(proxyUrl) : []), ...((egress?.secrets?.secrets.length ?? 0) > 0 ? caEnv() : [])],
    Labels: { ...input.labels },
    // A container that may join the egress network at claim keeps its network stack (on `none` until then).
    NetworkDisabled: !proxyUrl,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    Healthcheck: engineHealthCheck(input.healthCheckIntervalMs),
    HostConfig: hostConfig,
  };
}

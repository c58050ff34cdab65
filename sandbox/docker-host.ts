/**
 * One Docker host's sandboxes, as the activities use them: claim a container
 * for a session (from the warm pool, sandbox/pool.ts), run tools in it (over
 * its persistent exec channel, or a one-shot `docker exec`), release it.
 * Everything is found again from Docker (names and labels), so a restarted
 * worker with the same host id serves the sandboxes it owned.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { SANDBOX_ENGINE_HEALTHCHECK_DEFAULT_MS, SANDBOX_POOL_DEFAULTS } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ensureAppArmorProfile } from './apparmor.js';
import { SandboxBrowsers } from './browser-host.js';
import type { BrowserReply, BrowserRequest } from './browser-protocol.js';
import { LABELS, SandboxNames, remappedRoot, specHash, type RemappedRoot, type EgressAttachment, type SandboxLimits, type SandboxSpecInput } from './container-spec.js';
import { DockerEngine, statusCode } from './docker-engine.js';
import { EgressGateway, type EgressGatewayOptions, type EgressGrantSource } from './egress.js';
import type { EgressRefusal } from './egress-proxy.js';
import type { SandboxSecrets } from './egress-broker.js';
import { EGRESS_CA_ENV, installEgressCa, removeSecretFiles, writeSecretFiles, type SecretFile } from './secret-files.js';
import { SandboxGoneError, SandboxRequestError, SandboxToolError } from './errors.js';
import { ExecChannelError, limitField, type ChannelReply, type ChannelRequest } from './exec-channel.js';
import { containerProcesses, strayProcesses, type ContainerProcess } from './container-processes.js';
import { execCapturePath, readSandboxFile, workspaceFilePath, workspaceTarball, restoreWorkspaceTarball, type RestoreLimits } from './workspace-archive.js';
import { EXEC_SCRIPT, parseExecOutput, type ExecResult } from './exec-script.js';
import { execOnce, type OneShotResult } from './one-shot-exec.js';
import { reapPastDeadline } from './deadline-reap.js';
import { SandboxPool, type PoolClaim, type PoolMetrics, type PoolSettings } from './pool.js';
import { WorkspaceFiles, type FileEntry } from './workspace-files.js';

export { SandboxGoneError, SandboxRequestError, SandboxToolError } from './errors.js';
export { PoolExhaustedError } from './pool.js';
export type { FileEntry } from './workspace-files.js';

export interface DockerSandboxHostOptions {
  readonly docker: Docker;
  /** This worker's identity; its containers carry it as a label. */
  readonly hostId: string;
  /** Separates deployments sharing one engine (the task-queue prefix). */
  readonly pool: string;
  readonly image: string;
  readonly limits: SandboxLimits;
  readonly seccompProfile?: string | undefined;
  /** How often the engine runs the image's health check in each sandbox (default SANDBOX_ENGINE_HEALTHCHECK_DEFAULT_MS); 0: never. */
  readonly healthCheckIntervalMs?: number | undefined;
  /** Per stream, for shell output; file reads use the same cap. */
  readonly outputLimitBytes: number;
  /** How long past its timeout a shell call may take in all (default EXEC_DEADLINE_GRACE_MS). */
  readonly execDeadlineGraceMs?: number | undefined;
  /** The warm pool's settings; those left out are the config's defaults (SANDBOX_POOL_DEFAULTS: 2 idle, 16 in all). */
  readonly warmPool?: Partial<PoolSettings> | undefined;
  /** The allowlisting egress proxy for sessions whose policy names hosts. */
  readonly egress?: Omit<EgressGatewayOptions, 'docker' | 'selector' | 'logger'> | undefined;
  /** True when a session no longer holds this container (its workflow ended, or it claimed elsewhere). */
  readonly isOrphan?: ((sessionId: string, containerId: string) => Promise<boolean>) | undefined;
  /**
   * The browser of each sandbox (sandbox/browser-host.ts): `prewarm` starts it
   * in warm containers (the pool's probe checks it); without it a browser
   * starts at the session's first browser action. Absent: no browser tool.
   */
  readonly browser?: { readonly prewarm: boolean; readonly heapMb: number; readonly downloadMaxMb: number } | undefined;
  readonly metrics?: (PoolMetrics & Pick<Metrics, 'sandboxExec'>) | undefined;
  readonly logger?: Logger | undefined;
}

/** The session's sandbox, and how it was had (see PoolClaim). */
export type ClaimedSandbox = PoolClaim;

/** What a shell tool call returned, and whether the kernel killed it for memory. */
export interface ShellResult extends ExecResult {
  readonly oomKilled: boolean;
}

export interface ExecRequest {
  /** The same key on a retry: the command runs once. */
  readonly key: string;
  readonly command: string;
  readonly timeoutSeconds: number;
  /** Extra environment of the command (NAME=value; no newlines). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Keep this much of each stream in the sandbox (readExecCapture), beyond the printed limit: the full output, up to a cap. */
  readonly keepBytes?: number | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** How long an OOM event may trail the exit of the process it killed. */
const OOM_EVENT_WAIT_MS = 1_000;
/**
 * How long past the command's own timeout a shell call may take in all
 * (channel, then one one-shot fallback): below the workflow's start-to-close
 * margin (60 s), so the activity answers instead of timing out and retrying.
 */
export const EXEC_DEADLINE_GRACE_MS = 45_000;

export class DockerSandboxHost {
  readonly #options: DockerSandboxHostOptions;
  readonly #engine: DockerEngine;
  readonly #names: SandboxNames;
  readonly #selector: Readonly<Record<string, string>>;
  readonly #instance = randomBytes(4).toString('hex');
  readonly #files: WorkspaceFiles;
  readonly #egress: EgressGateway | undefined;
  /** The egress proxy as sandboxes reach it, once start() set it up: warm containers carry it and join at claim. */
  #proxyUrl: string | undefined;
  readonly #pool: SandboxPool;
  readonly #poolSettings: PoolSettings;
  /** Containers whose commands trust the egress CA (a warm one's environment was fixed before it had secrets). */
  readonly #brokered = new Set<string>();
  readonly #browsers: SandboxBrowsers | undefined;
  #specLabel: string;
  /** Set by start() where the host runs AppArmor (sandbox/apparmor.ts). */
  #appArmorProfile: string | undefined;
  /** Set by start() when the engine runs with userns-remap. */
  #remappedRoot: RemappedRoot | undefined;
  readonly #healthCheckIntervalMs: number;
  /** What to do when a claim waits for room (setPressureHandler). */
  #pressure: (() => void) | undefined;

  constructor(options: DockerSandboxHostOptions) {
    this.#options = Object.freeze({ ...options });
    // Downloads wait in the container's /tmp (the browser user's) until they are copied to the workspace.
    if (options.browser && options.browser.downloadMaxMb >= options.limits.tmpMb) {
      throw new Error(`the browser's download cap (${options.browser.downloadMaxMb} MB) must be below the sandbox's /tmp (${options.limits.tmpMb} MB)`);
    }
    this.#browsers = options.browser
      ? new SandboxBrowsers(options.docker, { heapMb: options.browser.heapMb, downloadMaxBytes: options.browser.downloadMaxMb * 2 ** 20 })
      : undefined;
    const browsers = options.browser?.prewarm ? this.#browsers : undefined;
    this.#engine = new DockerEngine(options.docker, { probeBrowser: browsers && ((id) => browsers.ensure(id)) });
    this.#names = new SandboxNames(options.pool, options.hostId);
    this.#selector = Object.freeze({ [LABELS.managed]: 'true', [LABELS.pool]: options.pool, [LABELS.host]: options.hostId });
    this.#files = new WorkspaceFiles(options.docker, options.outputLimitBytes);
    this.#healthCheckIntervalMs = options.healthCheckIntervalMs ?? SANDBOX_ENGINE_HEALTHCHECK_DEFAULT_MS;
    this.#specLabel = specHash({
      imageId: options.image,
      limits: options.limits,
      seccompProfile: options.seccompProfile,
      healthCheckIntervalMs: this.#healthCheckIntervalMs,
    });
    this.#egress = options.egress
      ? new EgressGateway({ docker: options.docker, selector: this.#selector, logger: options.logger, ...options.egress })
      : undefined;
    this.#poolSettings = Object.freeze({ ...SANDBOX_POOL_DEFAULTS, ...options.warmPool });
    this.#pool = new SandboxPool({
      engine: this.#engine,
      names: this.#names,
      selector: this.#selector,
      specLabel: [LABELS.spec, this.#specLabel],
      spec: (name, extra) => this.#spec(name, extra),
      settings: this.#poolSettings,
      warmEgress: () => this.#proxyUrl !== undefined,
      onPressure: () => this.#pressure?.(),
      isOrphan: options.isOrphan,
      metrics: options.metrics,
      logger: options.logger,
    });
  }

  get hostId(): string {
    return this.#options.hostId;
  }

  get limits(): SandboxLimits {
    return this.#options.limits;
  }

  /** The labels that select this host's containers (tests, diagnostics). */
  get selector(): Readonly<Record<string, string>> {
    return this.#selector;
  }

  get names(): SandboxNames {
    return this.#names;
  }

  /** The warm pool's settings in effect, defaults filled in (tests, diagnostics). */
  get poolSettings(): PoolSettings {
    return this.#poolSettings;
  }

  /** Called whenever a claim starts to wait for room on this host (activities/sandbox-evictor.ts parks an idle sandbox). */
  setPressureHandler(handler: () => void): void {
    this.#pressure = handler;
  }

  /** Idle, starting and claimed containers, as the pool counts them. */
  stats(): ReturnType<SandboxPool['stats']> {
    return this.#pool.stats();
  }

  /** Throws when the engine does not answer. */
  async ping(): Promise<void> {
    await this.#options.docker.ping();
  }

  /**
   * Rebuilds the pool from Docker (adopts healthy idle containers of this
   * spec, removes leftovers, keeps claimed ones), serves an existing egress
   * network again, and starts refilling.
   */
  async start(): Promise<void> {
    const image = await this.#options.docker.getImage(this.#options.image).inspect();
    this.#remappedRoot = remappedRoot(await this.#options.docker.info());
    const appArmor = await ensureAppArmorProfile(this.#options.docker);
    this.#appArmorProfile = appArmor.profile;
    if (appArmor.reason) this.#options.logger?.info('sandboxes run without an AppArmor profile', { reason: appArmor.reason });
    this.#proxyUrl = await this.#startEgress();
    this.#specLabel = specHash({
      imageId: image.Id,
      limits: this.#options.limits,
      seccompProfile: this.#options.seccompProfile,
      appArmorProfile: this.#appArmorProfile,
      proxyUrl: this.#proxyUrl,
      healthCheckIntervalMs: this.#healthCheckIntervalMs,
    });
    this.#pool.setSpecLabel([LABELS.spec, this.#specLabel]);
    await this.#pool.start();
  }

  /**
   * Stops refilling and closes exec channels and the proxy. Containers stay
   * (a restarted worker adopts the idle ones) unless `drainIdle` (a host going
   * away) or `destroy` (tests: everything of this host, and its network).
   */
  async stop(options: { drainIdle?: boolean; destroy?: boolean } = {}): Promise<void> {
    await this.#pool.stop();
    if (options.drainIdle || options.destroy) await this.#pool.drainIdle();
    this.#engine.closeChannels();
    this.#browsers?.closeAll();
    if (options.destroy) {
      for (const c of await this.#engine.list(this.#selector)) await this.#engine.remove(c.id).catch(() => false);
      await this.#engine.removeUnusedVolumes(this.#selector, (name) => this.#names.owns(name)).catch(() => 0);
    }
    await this.#egress?.close({ removeNetwork: options.destroy === true });
  }

  /**
   * Sets the egress network and proxy up before the pool fills, so that warm containers carry the proxy's
   * address and can join at claim. Where it cannot be set up, a required firewall stops startup; otherwise
   * warm containers are made without it and sessions naming hosts get cold ones (whose claim then says why).
   */
  async #startEgress(): Promise<string | undefined> {
    if (!this.#egress) return undefined;
    try {
      return await this.#egress.proxyUrl();
    } catch (err) {
      if (this.#egress.requiredAtStart) throw err;
      this.#options.logger?.warn('egress proxy not set up at start: warm sandboxes cannot join it at claim', { error: (err as Error).message });
      return undefined;
    }
  }

  #spec(name: string, extra: { labels: Record<string, string>; egress?: EgressAttachment | undefined }): SandboxSpecInput {
    return {
      image: this.#options.image,
      name,
      volumeName: `${name}-ws-${randomBytes(3).toString('hex')}`,
      labels: {
        ...this.#selector,
        [LABELS.instance]: this.#instance,
        [LABELS.spec]: this.#specLabel,
        ...extra.labels,
        ...(extra.egress ? EgressGateway.label(extra.egress) : {}),
      },
      limits: this.#options.limits,
      seccompProfile: this.#options.seccompProfile,
      appArmorProfile: this.#appArmorProfile,
      remappedRoot: this.#remappedRoot,
      healthCheckIntervalMs: this.#healthCheckIntervalMs,
      egress: extra.egress,
      ...(extra.egress ? {} : { proxyUrl: this.#proxyUrl }),
    };
  }

  /**
   * The session's running container: its own on a retry, else a warm one from
   * the pool, else one started cold (or, by settings, after a wait). A session
   * whose policy names hosts (`network`, or `approve`: hosts reachable once
   * approved) gets its container on the egress network: a warm one joins it
   * here (Docker connects a running container), a cold one starts on it.
   * Idempotent (a retried claim finds the container connected already).
   * `signal` (the activity's cancellation) ends a claim still waiting for the
   * pool, which then keeps no container for it; once the pool answered, the
   * container is the session's.
   */
  async claim(
    session: { tenantId: string; sessionId: string },
    options: { network?: readonly string[]; approve?: readonly string[] | undefined; secrets?: SandboxSecrets | undefined } = {},
    signal?: AbortSignal,
  ): Promise<ClaimedSandbox> {
    const allow = options.network ?? [];
    const approve = options.approve ?? [];
    let egress: EgressAttachment | undefined;
    if (allow.length > 0 || approve.length > 0) {
      if (!this.#egress) throw new SandboxRequestError('the policy names hosts, but this sandbox host runs no egress proxy');
      egress = await this.#egress.attach(allow, approve, options.secrets);
    }
    const claimed = await this.#pool.claim({ sessionId: session.sessionId, tenantId: session.tenantId, egress }, signal);
    // Connected (and the proxy told) before the claim answers: the session's first request is served at once.
    if (egress) await this.#egress?.connect(claimed.containerId, egress);
    // The sandbox trusts the proxy's CA only where the proxy terminates TLS: a session with secrets bound to hosts.
    if (egress?.secrets && this.#egress) {
      await installEgressCa(this.#options.docker, claimed.containerId, this.#egress.caCertificate());
      this.#brokered.add(claimed.containerId);
    }
    return claimed;
  }

  /** Where the egress proxy reads hosts granted after approval (the worker's database). */
  useEgressGrants(source: EgressGrantSource): void {
    this.#egress?.useGrants(source);
  }

  /** Lets one sandbox reach `host` (see EgressGateway.grant); `persist` stores the grant. */
  async grantEgress(containerId: string, host: string, port: number | undefined, persist: () => Promise<void>): Promise<void> {
    if (!this.#egress) throw new SandboxRequestError('this sandbox host runs no egress proxy');
    await this.#egress.grant(containerId, host, port, persist);
  }

  /** Destroys the session's container and workspace volume. Idempotent. */
  async release(sessionId: string): Promise<{ removed: number }> {
    // Off the egress network first: the proxy forgets the address before another sandbox can get it.
    await this.#egress?.disconnect(this.#names.session(sessionId));
    return this.#pool.release(sessionId);
  }

  /** What the egress proxy refused for this sandbox at or after `sinceMs` (Date.now()): a browser action says why it failed. */
  async egressRefusals(containerId: string, sinceMs: number): Promise<EgressRefusal[]> {
    return (await this.#egress?.refusals(containerId, sinceMs)) ?? [];
  }

  /** The egress proxy as sandboxes reach it (http://<gateway>:<port>); undefined before start() or without one. */
  get egressProxyUrl(): string | undefined {
    return this.#proxyUrl;
  }

  /**
   * Runs a shell command once per idempotency key (see exec.sh): a retry with
   * the same key returns the first run's result. Uses the container's exec
   * channel when it is free, a one-shot `docker exec` otherwise: two tries at
   * most, within a deadline (timeout + EXEC_DEADLINE_GRACE_MS), after which
   * the call is a SandboxToolError. An aborted `signal` (the activity was
   * cancelled) ends the streams and rejects with its reason.
   */
  async exec(containerId: string, request: ExecRequest, options: { signal?: AbortSignal | undefined } = {}): Promise<ShellResult> {
    if (request.command.includes('\0')) throw new SandboxToolError('the command contains a NUL character');
    const env = { ...(this.#brokered.has(containerId) ? EGRESS_CA_ENV : {}), ...request.env };
    for (const [k, v] of Object.entries(env)) {
      if (!ENV_NAME.test(k) || /[\n\0]/.test(v)) throw new SandboxRequestError(`bad environment variable ${JSON.stringify(k)}`);
    }
    const started = performance.now();
    const key = createHash('sha256').update(request.key).digest('hex').slice(0, 32);
    const limit = this.#options.outputLimitBytes;
    const oomBefore = this.#pool.oomKills(containerId);
    const req = { key, command: request.command, timeoutSeconds: request.timeoutSeconds, limitBytes: limit, keepBytes: request.keepBytes, env };
    const deadlineMs = request.timeoutSeconds * 1000 + (this.#options.execDeadlineGraceMs ?? EXEC_DEADLINE_GRACE_MS);
    const deadline = AbortSignal.timeout(deadlineMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    let reply: ChannelReply | OneShotResult;
    try {
      reply =
        (await this.#viaChannel(containerId, req, signal)) ??
        (await execOnce(this.#options.docker, containerId, ['bash', '-c', EXEC_SCRIPT, 'kortix-exec', key, String(req.timeoutSeconds), limitField(req), req.command], {
          env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
          maxBytes: 2 * limit + 4096,
          signal,
        }));
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (deadline.aborted) throw await reapPastDeadline(this.#options.docker, containerId, deadlineMs);
      throw err;
    }
    if (signal.aborted) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw await reapPastDeadline(this.#options.docker, containerId, deadlineMs);
    }
    if ('overflow' in reply && reply.overflow) throw new SandboxToolError('the sandbox printed more than any command can: its output was cut off');
    const result = parseExecOutput(reply.stdout, limit) ?? unfinished(reply);
    const killed = result.exitCode === 137 && !result.timedOut;
    const oomKilled = killed && (await this.#pool.waitForOomKill(containerId, oomBefore, OOM_EVENT_WAIT_MS));
    this.#options.metrics?.sandboxExec.observe((performance.now() - started) / 1000);
    return { ...result, oomKilled };
  }

  /** The reply over the exec channel; undefined when the channel is busy or broke (the caller execs once instead). */
  async #viaChannel(containerId: string, req: ChannelRequest, signal: AbortSignal): Promise<ChannelReply | undefined> {
    let channel;
    try {
      channel = await this.#engine.channel(containerId);
    } catch (err) {
      const code = statusCode(err);
      if (code === 404 || code === 409) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone: ${(err as Error).message}`);
      this.#options.logger?.warn('cannot open an exec channel', { containerId: containerId.slice(0, 12), err });
      return undefined;
    }
    if (channel.busy) return undefined;
    try {
      return await channel.run(req, signal);
    } catch (err) {
      if (err instanceof ExecChannelError) return undefined;
      throw err;
    }
  }

  /**
   * One browser action in the sandbox's browser (started there if it is not
   * up). Errors the model should read come back as `{ ok: false, error }`.
   */
  async browser(containerId: string, request: BrowserRequest, options: { signal?: AbortSignal | undefined } = {}): Promise<BrowserReply> {
    if (!this.#browsers) throw new SandboxToolError('this sandbox host runs no browser (SANDBOX_BROWSER=off)');
    return this.#browsers.call(containerId, request, options.signal);
  }

  /** Creates or replaces a workspace file, through no symbolic link (sandbox/workspace-files.ts). */
  writeFile(containerId: string, relative: string, content: string): Promise<{ bytes: number }> {
    return this.#files.write(containerId, relative, content);
  }

  /** Reads a workspace file, through no symbolic link, capped at the output limit. */
  readFile(containerId: string, relative: string): Promise<{ content: string; bytes: number; truncated: boolean }> {
    return this.#files.read(containerId, relative);
  }

  /** Lists up to 1000 entries under a workspace directory (four levels deep). */
  listFiles(containerId: string, relative: string): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    return this.#files.list(containerId, relative);
  }

  /** Secret files for one approved shell call on the sandbox's /run/secrets tmpfs (sandbox/secret-files.ts). */
  writeSecretFiles(containerId: string, files: readonly SecretFile[]): Promise<void> {
    return writeSecretFiles(this.#options.docker, containerId, files);
  }

  /** Removes mounted secret files (those not there are no error). */
  removeSecretFiles(containerId: string, paths: readonly string[]): Promise<void> {
    return removeSecretFiles(this.#options.docker, containerId, paths);
  }

  /** The whole capture of one stream of a shell call (ExecRequest.keepBytes), at most `maxBytes` of it (sandbox/workspace-archive.ts). */
  readExecCapture(containerId: string, requestKey: string, stream: 'stdout' | 'stderr', maxBytes: number): Promise<NodeJS.ReadableStream> {
    const key = createHash('sha256').update(requestKey).digest('hex').slice(0, 32);
    return readSandboxFile(this.#options.docker, containerId, execCapturePath(key, stream), maxBytes);
  }

  /** Bytes of each shell stream a result carries (SANDBOX_OUTPUT_LIMIT_BYTES). */
  get outputLimitBytes(): number {
    return this.#options.outputLimitBytes;
  }

  /** The name of the session's container on this host (Docker takes it where an id goes). */
  sessionContainer(sessionId: string): string {
    return this.#names.session(sessionId);
  }

  /** Processes in the session's sandbox besides the pool's own (a background server, a browser): it is not parked then. */
  async strayProcesses(sessionId: string): Promise<ContainerProcess[]> {
    return strayProcesses(await containerProcesses(this.#options.docker, this.#names.session(sessionId)));
  }

  /** At most `maxBytes` of a regular workspace file (a symbolic link is refused), streamed. */
  readWorkspaceFile(containerId: string, relative: string, maxBytes: number): Promise<NodeJS.ReadableStream> {
    return readSandboxFile(this.#options.docker, containerId, workspaceFilePath(relative), maxBytes);
  }

  /** The workspace as a tar stream (Docker's archive API: links stored as links, never followed). */
  workspaceTarball(containerId: string): Promise<NodeJS.ReadableStream> {
    return workspaceTarball(this.#options.docker, containerId);
  }

  /** Unpacks a workspace tarball into /workspace after checking every entry (sandbox/workspace-archive.ts). */
  restoreWorkspace(containerId: string, tar: NodeJS.ReadableStream, limits: RestoreLimits): Promise<{ files: number; bytes: number }> {
    return restoreWorkspaceTarball(this.#options.docker, containerId, tar, limits);
  }

  /** Removes claimed containers whose session no longer holds them; the pool also does it on its sweeps. */
  reapOrphans(): Promise<number> {
    return this.#pool.reapOrphans();
  }
}

/** The runner itself did not finish (killed: out of memory, pids, or by the command). */
function unfinished(reply: ChannelReply | { stdout: Buffer; stderr: Buffer; exitCode: number }): ExecResult {
  const code = reply.exitCode;
  return {
    exitCode: code === 0 ? -1 : code,
    timedOut: false,
    stdout: '',
    stderr: `the sandbox could not finish the command (exit ${code}${code === 137 ? ', killed' : ''}) ${reply.stderr.toString('utf8').slice(0, 500)}`.trim(),
    truncated: false,
  };
}

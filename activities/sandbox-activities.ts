/**
 * Sandbox activities. `claimSandbox` runs on the shared sandbox queue and
 * answers with the claiming worker's own queue; `execTool` and
 * `releaseSandbox` then run on that queue, where the container lives.
 */
import { trace } from '@opentelemetry/api';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db/client.js';
import { endSandboxLease, type TenantLimits } from '../db/tenant-limits.js';
import { getMessage, writeSessionRecords } from '../db/session-records.js';
import { expireParkedWorkspace } from '../db/artifacts.js';
import type { SessionRef } from '../domain/session.js';
import type { Metrics } from '../observability/metrics.js';
import {
  PoolExhaustedError,
  SandboxGoneError,
  SandboxRequestError,
  SandboxToolError,
  type ClaimedSandbox,
  type DockerSandboxHost,
} from '../sandbox/docker-host.js';
import type { RequestNetworkArgs, ValidToolCall } from '../sandbox/tools.js';
import { deleteEgressGrants, egressGrantsFor, insertEgressGrant } from '../db/egress-grants.js';
import type { BrowserImage } from '../sandbox/browser-protocol.js';
import { runBrowserTool } from './browser-tool.js';
import { EVENT_KEY_SOURCES, EVENT_TYPES, eventKey } from '../domain/events.js';
import { SANDBOX_GONE, SANDBOX_PARKED } from '../domain/temporal-names.js';
import { readTenantLimits } from '../db/tenant-limits.js';
import { WorkspaceArchiveError } from '../sandbox/workspace-archive.js';
import type { Artifacts } from '../storage/artifacts.js';
import { keepBytesFor, keepShellOutput, readArtifact, restoreWorkspace, resumeWorkspace, parkWorkspace, saveResult, saveWorkspace, savedWorkspace, type ArtifactToolDeps } from './artifact-tools.js';
import { admitTenantSandbox } from './tenant-sandboxes.js';
import { maskToolResult, secretsForClaim, sessionMasker } from './session-secrets.js';
import type { SecretProvider } from '../secrets/provider.js';
import type { SecretMasker } from '../secrets/mask.js';
import { withHeartbeat } from './heartbeat.js';
import { SandboxEvictor, evictedRef } from './sandbox-evictor.js';
import type { Logger } from '../observability/logger.js';
import { withSecretMounts } from './secret-mounts.js';
import { failFast } from './permanent-errors.js';
import { workflowEvents } from './workflow-events.js';
import type { ClaimSandboxInput, ExecToolInput, LostSandbox, ParkedWorkspace, ParkSandboxInput, ParkSandboxResult, SandboxLease, ToolOutcome, ToolResultPayload } from './types.js';

/** Before a claim that timed out waiting is retried: well within the time its place in line is kept (KEPT_PLACE_MS). */
const POOL_RETRY_DELAY = '1s';

export interface SandboxActivityDeps {
  readonly db: Db;
  readonly host: DockerSandboxHost;
  /** This worker's own sandbox queue, handed to the workflow at claim. */
  readonly hostQueue: string;
  /** The default per-tenant limits (a tenant_limits row overrides them): a claim beyond the tenant's sandbox cap waits. */
  readonly tenantLimits?: TenantLimits | undefined;
  /** Container starts, claims, execs and OOM kills are counted by the host's pool; failures here. */
  readonly metrics?: Pick<Metrics, 'failedTasks' | 'tasks'> | undefined;
  /** Where the session's secrets are checked (at claim) and read to mask them in tool output. */
  readonly secrets?: SecretProvider | undefined;
  /** Tool output beyond the cap, saved results and workspace tarballs (activities/artifact-tools.ts); absent: output is cut, as before. */
  readonly artifacts?: Artifacts | undefined;
  /**
   * SANDBOX_POOL_EVICT_IDLE: when a claim waits for room, park a sandbox idle at least this long
   * (activities/sandbox-evictor.ts); 0 or absent: never. Needs `artifacts`.
   */
  readonly evictIdleMs?: number | undefined;
  readonly logger?: Logger | undefined;
}

/** What runTool needs of the artifact store for one call (nothing without one). */
interface ToolArtifacts {
  /** Bytes of each shell stream to keep in the sandbox beyond the cap. */
  readonly keepBytes?: number;
  keepOutput(r: Parameters<typeof keepShellOutput>[3]): Promise<Record<string, unknown>>;
  tool(call: Extract<ValidToolCall, { name: 'read_artifact' | 'save_result' }>): Promise<ToolResultPayload>;
}

/** What the model reads with the result of a call that had to move to a new sandbox. */
function lostNotice(lost: LostSandbox, hostId: string): Record<string, unknown> {
  return {
    sandbox_replaced: true,
    notice:
      `The sandbox of this session was lost (its host ${lost.hostId} stopped answering) and a new one was claimed on host ${hostId}; ` +
      'this call ran there. Files, processes and environment of the old sandbox are gone.',
  };
}

/** Shown to the model in events and SSE: the first part of long output. */
const PREVIEW_CHARS = 2_000;

async function runTool(
  host: DockerSandboxHost,
  session: SessionRef,
  containerId: string,
  call: ValidToolCall,
  key: string,
  signal: AbortSignal,
  grant: (args: RequestNetworkArgs) => Promise<ToolResultPayload>,
  artifacts: ToolArtifacts,
  onImage: (image: BrowserImage) => void,
): Promise<ToolResultPayload> {
  switch (call.name) {
    case 'browser': {
      const { result, image } = await runBrowserTool(host, containerId, call.args, signal);
      if (image) onImage(image);
      return result;
    }
    case 'request_network':
      return grant(call.args);
    case 'shell': {
      const r = await host.exec(
        containerId,
        {
          key,
          command: call.args.command,
          timeoutSeconds: call.args.timeout_seconds,
          env: { KORTIX_SESSION_ID: session.sessionId, KORTIX_TENANT_ID: session.tenantId },
          ...(artifacts.keepBytes !== undefined ? { keepBytes: artifacts.keepBytes } : {}),
        },
        { signal },
      );
      return {
        ok: !r.timedOut && r.exitCode === 0,
        exit_code: r.exitCode,
        stdout: r.stdout,
        stderr: r.stderr,
        truncated: r.truncated,
        ...(r.timedOut
          ? { timed_out: true, error: `killed after ${call.args.timeout_seconds} s with all its child processes` }
          : {}),
        ...(r.oomKilled
          ? { oom_killed: true, error: `killed by the kernel: out of memory (this sandbox has ${host.limits.memoryMb} MB); the sandbox is still there` }
          : {}),
        // Beyond the cap: head, tail and the artifact with all of it, in place of the first LIMIT bytes.
        ...(r.truncated ? await artifacts.keepOutput(r) : {}),
      };
    }
    case 'write_file': {
      const { bytes } = await host.writeFile(containerId, call.args.path, call.args.content);
      return { ok: true, path: call.args.path, bytes };
    }
    case 'read_file': {
      const r = await host.readFile(containerId, call.args.path);
      return { ok: true, path: call.args.path, content: r.content, bytes: r.bytes, truncated: r.truncated };
    }
    case 'list_files': {
      const r = await host.listFiles(containerId, call.args.path);
      return { ok: true, path: call.args.path, entries: r.entries, truncated: r.truncated };
    }
    case 'read_artifact':
    case 'save_result':
      return artifacts.tool(call);
  }
}

function outcomeOf(result: ToolResultPayload, content: string): ToolOutcome {
  return {
    ok: result.ok,
    ...(typeof result.exit_code === 'number' || result.exit_code === null ? { exitCode: result.exit_code as number | null } : {}),
    ...(result.timed_out === true ? { timedOut: true } : {}),
    ...(typeof result.url === 'string' ? { pageUrl: result.url } : {}),
    outputBytes: content.length,
  };
}

export function createSandboxActivities({ db, host, hostQueue, metrics, secrets, tenantLimits, artifacts, evictIdleMs, logger }: SandboxActivityDeps) {
  const artifactDeps: ArtifactToolDeps | undefined = artifacts && {
    db,
    host,
    artifacts,
    limits: async (tenantId) => {
      const limits = tenantLimits ? await readTenantLimits(db, tenantId, tenantLimits) : undefined;
      return { artifactBytes: limits?.artifactBytes ?? Number.MAX_SAFE_INTEGER, artifactTotalBytes: limits?.artifactTotalBytes ?? Number.MAX_SAFE_INTEGER };
    },
  };
  const evictor =
    artifactDeps && (evictIdleMs ?? 0) > 0
      ? new SandboxEvictor({
          idleMs: evictIdleMs ?? 0,
          logger,
          waiting: () => host.stats().waiting,
          save: (session, ref) => parkWorkspace(artifactDeps, session, ref),
          release: async (session) => {
            await releaseContainer(session);
          },
        })
      : undefined;
  if (evictor) host.setPressureHandler(() => evictor.pressure());

  /**
   * The session's container goes (a release at the end, a park): off the host, its egress grants (per container)
   * deleted, the tenant's sandbox count ended. The evictor's own bookkeeping is the caller's.
   */
  async function releaseContainer(session: SessionRef): Promise<{ removed: number }> {
    const released = await host.release(session.sessionId);
    await deleteEgressGrants(db, session);
    await endSandboxLease(db, session);
    return released;
  }

  /** The session's call must move: its sandbox was parked for a waiting claim (activities/sandbox-evictor.ts). */
  const parkedFailure = (parked: ParkedWorkspace) =>
    ApplicationFailure.create({ type: SANDBOX_PARKED, message: 'the sandbox was parked for a waiting claim; claim again with its workspace', nonRetryable: true, details: [parked] });

  /** The artifact side of one tool call; what it stores is masked with `masker` first. */
  async function toolArtifacts(input: ExecToolInput, masker: SecretMasker): Promise<ToolArtifacts> {
    const { session, lease, messageSeq, idempotencyKey } = input;
    if (!artifactDeps) {
      return {
        keepOutput: async () => ({}),
        tool: async (call) => ({ ok: false, error: `${call.name} needs an object store, and this sandbox host has none` }),
      };
    }
    const limitBytes = host.outputLimitBytes;
    const keepBytes = input.call.name === 'shell' ? await keepBytesFor(artifactDeps, session.tenantId, limitBytes) : limitBytes;
    return {
      keepBytes,
      keepOutput: (r) => keepShellOutput(artifactDeps, session, { containerId: lease.containerId, idempotencyKey, messageSeq }, r, { limitBytes, keepBytes }, masker),
      tool: (call) =>
        call.name === 'read_artifact'
          ? readArtifact(artifactDeps, session, call.args)
          : saveResult(artifactDeps, session, lease.containerId, messageSeq, call.args, masker),
    };
  }

  // The proxy of this host reads the hosts granted after approval from here (a restarted worker too).
  host.useEgressGrants({ forContainers: (ids) => egressGrantsFor(db, ids) });

  /**
   * request_network, once the workflow allowed it (network.allow) or its gate was approved (network.approve):
   * grants the host to this sandbox at the proxy, stored so that a restarted worker keeps it.
   */
  async function grantNetwork(input: ExecToolInput, args: RequestNetworkArgs): Promise<ToolResultPayload> {
    const who = input.grant ?? { gate: null, grantedBy: 'policy' };
    const { session, lease } = input;
    try {
      await host.grantEgress(lease.containerId, args.host, args.port, () =>
        insertEgressGrant(db, { ...session, containerId: lease.containerId, host: args.host, port: args.port, grantedBy: who.grantedBy, gate: who.gate }),
      );
    } catch (err) {
      if (err instanceof SandboxRequestError) return { ok: false, error: `${args.host} was not granted: ${err.message}` };
      throw err;
    }
    const target = args.port === undefined ? `${args.host} (ports 80 and 443)` : `${args.host}:${args.port}`;
    return {
      ok: true,
      granted: true,
      host: args.host,
      port: args.port ?? null,
      granted_by: who.grantedBy,
      gate: who.gate,
      notice: `${target} is now reachable from this sandbox through its egress proxy, until the sandbox is released: retry the request.`,
    };
  }

  /**
   * Claims (or finds again) the session's sandbox on this worker's Docker host:
   * a warm one from the pool, or a cold one on the egress network when the
   * policy names hosts. A full pool fails retryably (maybe another host has room).
   * Heartbeats from its start to its end: the claim may wait its turn (up to
   * SANDBOX_POOL_WAIT_TIMEOUT), and the workflow gives it a heartbeat timeout,
   * which tells that wait from a dead worker; they also let a cancellation reach it.
   */
  const claimSandbox = (input: ClaimSandboxInput) => withHeartbeat(() => claim(input));

  async function claim(input: ClaimSandboxInput): Promise<SandboxLease & Omit<ClaimedSandbox, 'containerId'>> {
    let claimed: ClaimedSandbox;
    if (tenantLimits) await admitTenantSandbox(db, tenantLimits, input.session);
    const bound = await secretsForClaim(secrets, input.session, input.secrets);
    try {
      // Cancelled (the session cancelled or ended, or this attempt timed out), the claim leaves the line and keeps no
      // container: the workflow, which never got a lease, would not release one. It rejects with the CancelledFailure:
      // the attempt ends cancelled.
      claimed = await host.claim(
        { tenantId: input.session.tenantId, sessionId: input.session.sessionId },
        { network: input.network ?? [], approve: input.approve, ...(bound ? { secrets: bound } : {}) },
        Context.current().cancellationSignal,
      );
    } catch (err) {
      if (err instanceof SandboxRequestError) throw ApplicationFailure.create({ type: 'SandboxRequest', message: err.message, nonRetryable: true });
      if (err instanceof PoolExhaustedError) {
        // The pool keeps the claim's place in line for a while (sandbox/pool-queue.ts): retry soon, not after the growing back-off.
        throw ApplicationFailure.create({ type: 'SandboxPoolExhausted', message: err.message, nextRetryDelay: POOL_RETRY_DELAY });
      }
      throw err;
    }
    // After a park, the session's own workspace; else fromSession's: into this sandbox before any tool runs (again on a
    // retried claim: same files). Never both: the parked tarball already holds what fromSession gave, minus what the session deleted.
    let restored: Awaited<ReturnType<typeof restoreWorkspace>> | Awaited<ReturnType<typeof resumeWorkspace>>;
    try {
      if (!artifactDeps) restored = undefined;
      else if (input.resume) restored = await resumeWorkspace(artifactDeps, input.session, input.resume, claimed.containerId);
      else restored = await restoreWorkspace(artifactDeps, input.session, claimed.containerId);
    } catch (err) {
      if (err instanceof WorkspaceArchiveError) {
        throw ApplicationFailure.create({ type: 'WorkspaceRestore', message: `the workspace to start from cannot be restored: ${err.message}`, nonRetryable: true });
      }
      throw err;
    }
    evictor?.claimed(input.session, claimed.containerId, (input.network?.length ?? 0) > 0 || (input.approve?.length ?? 0) > 0);
    // The `sandbox.claimed` event is written by the first execTool (input.claimed), in the workflow's order.
    return { ...claimed, hostId: host.hostId, taskQueue: hostQueue, ...(restored ? { restored } : {}) };
  }

  /** Runs one tool call once (per idempotency key) and stores its result at `messageSeq`. */
  async function execTool(input: ExecToolInput): Promise<ToolOutcome> {
    const { session, messageSeq } = input;
    const stored = await getMessage(db, session, messageSeq);
    if (stored) {
      const content = stored.content ?? '{}';
      return outcomeOf(JSON.parse(content) as ToolResultPayload, content);
    }
    // Parked for a waiting claim (or being parked now): the call moves before anything of it is written here.
    const moved = await evictor?.begin(session.sessionId, input.lease.containerId);
    if (moved) throw parkedFailure(moved);
    try {
      return await runInSandbox(input);
    } finally {
      evictor?.end(session.sessionId, input.lease.containerId);
    }
  }

  async function runInSandbox(input: ExecToolInput): Promise<ToolOutcome> {
    const { session, messageSeq, call } = input;
    const claimed = input.claimed;
    // A write that can never succeed (the log refuses a carried decision) fails the call at once, saying why.
    await writeSessionRecords(db, session, {
      events: [
        ...workflowEvents(input.decisions),
        ...(claimed
          ? [
              {
                key: eventKey(EVENT_KEY_SOURCES.sandboxClaimed, input.lease.containerId),
                type: EVENT_TYPES.sandboxClaimed,
                data: { containerId: input.lease.containerId, hostId: input.lease.hostId, ...claimed },
              },
            ]
          : []),
        {
          key: eventKey(EVENT_KEY_SOURCES.toolStarted, messageSeq),
          type: EVENT_TYPES.toolStarted,
          data: { seq: messageSeq, toolCallId: input.toolCallId, name: call.name, arguments: call.args, hostId: host.hostId },
        },
      ],
    }).catch((err: unknown) => {
      throw failFast(err);
    });
    let result: ToolResultPayload;
    let image: BrowserImage | undefined;
    // Before anything is stored, streamed or returned (artifacts included): no value of the session's secrets leaves as written or encoded.
    const masker = await sessionMasker(secrets, session, input.secrets);
    metrics?.tasks.inc({ kind: 'sandbox' });
    try {
      // The cancellation signal also fires when a heartbeat finds the activity gone (timed out):
      // the streams from the sandbox end with it instead of outliving the attempt.
      const signal = Context.current().cancellationSignal;
      const forTool = await toolArtifacts(input, masker);
      result = await withHeartbeat(() =>
        withSecretMounts({ host, provider: secrets }, input, () =>
          runTool(
            host,
            session,
            input.lease.containerId,
            call,
            input.idempotencyKey,
            signal,
            (args) => grantNetwork(input, args),
            forTool,
            (shot) => (image = shot),
          ),
        ),
      );
    } catch (err) {
      if (err instanceof SandboxToolError) {
        result = { ok: false, error: err.message };
      } else if (err instanceof SandboxGoneError) {
        // Gone because another process of this host parked it for a waiting claim: the files are in its artifact.
        const parked = artifactDeps && (await savedWorkspace(artifactDeps, session, evictedRef(input.lease.containerId)));
        if (parked) throw parkedFailure(parked);
        metrics?.failedTasks.inc({ kind: 'sandbox' });
        throw ApplicationFailure.create({ type: SANDBOX_GONE, message: err.message, nonRetryable: true });
      } else {
        metrics?.failedTasks.inc({ kind: 'sandbox' });
        throw err;
      }
    }
    if (input.lostSandbox) result = { ...result, ...lostNotice(input.lostSandbox, host.hostId) };
    result = maskToolResult(masker, result);
    trace.getActiveSpan()?.setAttributes({
      'kortix.session': session.sessionId,
      'kortix.tenant': session.tenantId,
      'sandbox.tool': call.name,
      'sandbox.host': host.hostId,
      'sandbox.ok': result.ok,
      ...(typeof result.exit_code === 'number' ? { 'sandbox.exit_code': result.exit_code } : {}),
    });
    const content = JSON.stringify(result);
    const preview = content.length > PREVIEW_CHARS ? `${content.slice(0, PREVIEW_CHARS)}…` : content;
    await writeSessionRecords(db, session, {
      messages: [{ seq: messageSeq, role: 'tool', content, toolCallId: input.toolCallId }],
      events: [
        {
          key: eventKey(EVENT_KEY_SOURCES.toolResult, messageSeq),
          type: EVENT_TYPES.toolResult,
          data: {
            seq: messageSeq,
            toolCallId: input.toolCallId,
            name: call.name,
            ran: true,
            ok: result.ok,
            exitCode: result.exit_code ?? null,
            timedOut: result.timed_out === true,
            truncated: result.truncated === true,
            output: preview,
          },
        },
        ...(image
          ? [
              {
                key: eventKey(EVENT_KEY_SOURCES.browserScreenshot, messageSeq),
                type: EVENT_TYPES.browserScreenshot,
                data: { seq: messageSeq, toolCallId: input.toolCallId, url: result.url ?? null, ...image },
              },
            ]
          : []),
      ],
    });
    // The first call in a sandbox restored from a park ran: that tarball is not needed to restore again.
    if (claimed?.resumed) await expireParkedWorkspace(db, session, claimed.resumed);
    return outcomeOf(result, content);
  }

  /** Destroys the session's container and workspace. Idempotent; never fails for a container already gone. */
  async function releaseSandbox(input: { session: SessionRef }): Promise<{ removed: number; workspace?: { sha256: string; bytes: number } | { error: string } }> {
    // The workspace outlives the sandbox as a tarball artifact (downloadable, and what fromSession starts from); a
    // sandbox parked for a waiting claim since the last call left it already (the newest workspace artifact).
    const evicted = evictor?.evictedFor(input.session.sessionId);
    const workspace = evicted ?? (artifactDeps ? await withHeartbeat(() => saveWorkspace(artifactDeps, input.session, host.sessionContainer(input.session.sessionId))) : undefined);
    evictor?.released(input.session.sessionId);
    // Grants die with the sandbox (they are per container, so none could reach another one anyway).
    return { ...(await releaseContainer(input.session)), ...(workspace ? { workspace } : {}) };
  }

  /**
   * Parks the session's sandbox while it waits on people (workflows/session-park.ts): its workspace saved under
   * `ref`, then released as at the end. Kept (nothing changed) when a process it started still runs, or the
   * workspace cannot be saved. A retry after a save finds the saved row and finishes the release.
   */
  const parkSandbox = (input: ParkSandboxInput) => withHeartbeat(() => park(input));

  async function park(input: ParkSandboxInput): Promise<ParkSandboxResult> {
    if (!artifactDeps) return { parked: false, reason: 'no artifact store to keep the workspace in' };
    const { session, ref } = input;
    // Parked already, for a waiting claim: that tarball is the workspace (its container is gone).
    const evicted = evictor?.evictedFor(session.sessionId);
    if (evicted) {
      evictor?.released(session.sessionId);
      return { parked: true, ...evicted };
    }
    let saved = await savedWorkspace(artifactDeps, session, ref);
    if (!saved) {
      const result = await parkWorkspace(artifactDeps, session, ref);
      if ('kept' in result) return { parked: false, reason: result.kept };
      saved = result;
    }
    // Given up (cancelled, or timed out and retried): the sandbox stays; a retry of this park finds the saved row.
    Context.current().cancellationSignal.throwIfAborted();
    evictor?.released(session.sessionId);
    await releaseContainer(session);
    return { parked: true, ...saved };
  }

  return { claimSandbox, execTool, releaseSandbox, parkSandbox };
}

/**
 * What the sandbox host's activities keep as artifacts (storage/artifacts.ts):
 * a shell call's full output beyond the cap (the model gets the head, the tail
 * and a reference), the `read_artifact` and `save_result` tools, the
 * workspace as a tarball at release, and a previous session's workspace
 * restored at claim (`fromSession`). Results stay small: an activity returns
 * references, never the bytes (Temporal payloads stay under a few KB).
 */
import type { Db } from '../db/client.js';
import { artifactByRef, sessionArtifactBySha } from '../db/artifacts.js';
import type { SessionRef } from '../domain/session.js';
import { workspaceSourceOf } from '../db/workspace-sources.js';
import type { ReadArtifactArgs, SaveResultArgs } from '../sandbox/artifact-tools.js';
import type { DockerSandboxHost, ShellResult } from '../sandbox/docker-host.js';
import { WorkspaceArchiveError, checkWorkspaceTar } from '../sandbox/workspace-archive.js';
import { Writable } from 'node:stream';
import { ArtifactLimitError, type ArtifactLimits, type Artifacts } from '../storage/artifacts.js';
import type { SecretMasker } from '../secrets/mask.js';
import { maskedBody } from '../secrets/mask-stream.js';
import type { ParkedWorkspace, ToolResultPayload } from './types.js';

export interface ArtifactToolDeps {
  readonly db: Db;
  readonly host: DockerSandboxHost;
  readonly artifacts: Artifacts;
  /** The tenant's artifact limits (a tenant_limits row over the configured defaults). */
  readonly limits: (tenantId: string) => Promise<ArtifactLimits>;
}

/** Where a session's artifact is downloaded from (api/routes/artifacts.ts). */
export const artifactDownloadPath = (sessionId: string, sha256: string): string => `/v1/sessions/${sessionId}/artifacts/${sha256}`;

/** The length of `buf` without a UTF-8 sequence cut at its end. */
export function completeUtf8Length(buf: Buffer): number {
  let i = buf.length - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && ((buf[i] as number) & 0xc0) === 0x80) {
    i -= 1;
    continuation += 1;
  }
  if (i < 0) return buf.length;
  const lead = buf[i] as number;
  const need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return need > continuation ? i : buf.length;
}

/** Skips UTF-8 continuation bytes at the start (a tail cut in the middle of a character). */
function fromCharStart(buf: Buffer): Buffer {
  let i = 0;
  while (i < Math.min(3, buf.length) && ((buf[i] as number) & 0xc0) === 0x80) i += 1;
  return buf.subarray(i);
}

/** How much of each stream a shell call keeps in the sandbox: the tenant's artifact limit, within a quarter of /tmp. */
export async function keepBytesFor(deps: ArtifactToolDeps, tenantId: string, limitBytes: number): Promise<number> {
  const limits = await deps.limits(tenantId);
  const tmpShare = Math.floor((deps.host.limits.tmpMb * 1024 * 1024) / 4);
  return Math.max(limitBytes, Math.min(limits.artifactBytes, tmpShare));
}

/**
 * A shell result whose output went beyond the cap: each such stream is stored
 * whole (up to `keepBytes`) as an artifact, and the result carries its head,
 * its tail and the reference instead of the first `limitBytes`.
 */
export async function keepShellOutput(
  deps: ArtifactToolDeps,
  session: SessionRef,
  call: { containerId: string; idempotencyKey: string; messageSeq: number },
  r: ShellResult,
  limits: { limitBytes: number; keepBytes: number },
  masker: SecretMasker,
): Promise<Record<string, unknown>> {
  const fields: Record<string, unknown> = {};
  const half = Math.floor(limits.limitBytes / 2);
  for (const stream of ['stdout', 'stderr'] as const) {
    const captured = stream === 'stdout' ? r.stdoutBytes : r.stderrBytes;
    if (captured === undefined || captured <= limits.limitBytes) continue;
    const complete = captured <= limits.keepBytes;
    try {
      const row = await deps.artifacts.save(
        {
          tenantId: session.tenantId,
          sessionId: session.sessionId,
          ref: `tool-output:${call.messageSeq}:${stream}`,
          kind: 'tool_output',
          name: `${stream} of tool call ${call.messageSeq}`,
          mediaType: 'text/plain; charset=utf-8',
        },
        // Masked as it streams to the store: the artifact (downloadable, read back page by page) never holds a value.
        maskedBody(masker, await deps.host.readExecCapture(call.containerId, call.idempotencyKey, stream, limits.keepBytes), { cutEnd: !complete }),
      );
      const head = await deps.artifacts.readRange(row, 0, half);
      const tailStart = Math.max(head.length, row.sizeBytes - half);
      const tail = fromCharStart(await deps.artifacts.readRange(row, tailStart, row.sizeBytes - tailStart));
      fields[stream] = head.subarray(0, completeUtf8Length(head)).toString('utf8');
      fields[`${stream}_tail`] = tail.toString('utf8');
      fields[`${stream}_artifact`] = { sha256: row.sha256, bytes: row.sizeBytes, complete, download: artifactDownloadPath(session.sessionId, row.sha256) };
      fields[`${stream}_notice`] =
        `${stream} was ${complete ? row.sizeBytes : `more than ${row.sizeBytes}`} bytes: shown are the first ${Buffer.byteLength(String(fields[stream]))} and the last ${tail.length}` +
        `${complete ? '' : ` of the ${row.sizeBytes} kept`}. Read the rest with read_artifact {"sha256": "${row.sha256}", "offset": ${head.length}}.`;
    } catch (err) {
      if (!(err instanceof ArtifactLimitError)) throw err;
      fields[`${stream}_notice`] = `${stream} was cut at ${limits.limitBytes} bytes and the rest could not be kept: ${err.message}`;
    }
  }
  return fields;
}

/** read_artifact: one page of an artifact of this session. */
export async function readArtifact(deps: ArtifactToolDeps, session: SessionRef, args: ReadArtifactArgs): Promise<ToolResultPayload> {
  const row = await sessionArtifactBySha(deps.db, session.tenantId, session.sessionId, args.sha256);
  if (!row) return { ok: false, error: `this session has no artifact ${args.sha256}` };
  if (args.offset > row.sizeBytes) return { ok: false, error: `offset ${args.offset} is past the end (${row.sizeBytes} bytes)` };
  const raw = await deps.artifacts.readRange(row, args.offset, args.length);
  const atEnd = args.offset + raw.length >= row.sizeBytes;
  // A utf8 page ends on a character boundary, so that pages joined give the bytes back.
  const page = args.encoding === 'utf8' && !atEnd ? raw.subarray(0, completeUtf8Length(raw) || raw.length) : raw;
  const next = args.offset + page.length;
  return {
    ok: true,
    sha256: row.sha256,
    name: row.name,
    offset: args.offset,
    length: page.length,
    total_bytes: row.sizeBytes,
    next_offset: next < row.sizeBytes ? next : null,
    ...(args.encoding === 'utf8' ? { content: page.toString('utf8') } : { content_base64: page.toString('base64') }),
  };
}

/** save_result: a workspace file kept as a result of the session. */
export async function saveResult(deps: ArtifactToolDeps, session: SessionRef, containerId: string, messageSeq: number, args: SaveResultArgs, masker: SecretMasker): Promise<ToolResultPayload> {
  const limits = await deps.limits(session.tenantId);
  try {
    // One byte over the limit is enough to refuse it.
    const body = await deps.host.readWorkspaceFile(containerId, args.path, limits.artifactBytes + 1);
    const row = await deps.artifacts.save(
      {
        tenantId: session.tenantId,
        sessionId: session.sessionId,
        ref: `result:${messageSeq}`,
        kind: 'result',
        name: args.path,
        mediaType: args.media_type ?? 'application/octet-stream',
      },
      maskedBody(masker, body),
    );
    return { ok: true, path: args.path, sha256: row.sha256, bytes: row.sizeBytes, media_type: row.mediaType, download: artifactDownloadPath(session.sessionId, row.sha256) };
  } catch (err) {
    if (err instanceof ArtifactLimitError) return { ok: false, path: args.path, code: err.code, error: err.message };
    if (err instanceof Error && /not a regular file|failed \(exit/.test(err.message)) return { ok: false, path: args.path, error: `${args.path} is not a regular file of the workspace` };
    throw err;
  }
}

/**
 * The workspace as a tarball artifact, before the sandbox goes; a failure is reported, never blocks the release.
 * `ref`: 'workspace' at the session's end, one of its own for each park (the newest of kind workspace is what
 * fromSession starts from, so a session that ends parked offers its parked files).
 */
export async function saveWorkspace(deps: ArtifactToolDeps, session: SessionRef, containerId: string, ref = 'workspace'): Promise<{ sha256: string; bytes: number } | { error: string }> {
  try {
    const row = await deps.artifacts.save(
      { tenantId: session.tenantId, sessionId: session.sessionId, ref, kind: 'workspace', name: 'workspace.tar', mediaType: 'application/x-tar' },
      await deps.host.workspaceTarball(containerId),
    );
    return { sha256: row.sha256, bytes: row.sizeBytes };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * At claim: the workspace of the session this one started from (POST
 * /v1/sessions fromSession, pinned to one tarball there), unpacked into the new
 * sandbox once. A refused archive is a WorkspaceArchiveError (nothing written).
 */
export async function restoreWorkspace(deps: ArtifactToolDeps, session: SessionRef, containerId: string): Promise<{ fromSession: string; files: number; bytes: number } | undefined> {
  const source = await workspaceSourceOf(deps.db, session.tenantId, session.sessionId);
  if (!source) return undefined;
  const row = await sessionArtifactBySha(deps.db, session.tenantId, source.fromSessionId, source.sha256);
  if (!row) throw new WorkspaceArchiveError('workspace.tar', `the workspace of ${source.fromSessionId} is no longer stored`);
  const counts = await deps.host.restoreWorkspace(containerId, await deps.artifacts.open(row), workspaceLimits(deps));
  return { fromSession: source.fromSessionId, ...counts };
}

/**
 * Why a saved workspace would not restore (resumeWorkspace refuses what fromSession refuses: absolute or climbing
 * links, special files, too many entries), or undefined when it would: a park checks before the sandbox goes.
 */
export async function unrestorable(deps: ArtifactToolDeps, session: SessionRef, saved: ParkedWorkspace): Promise<string | undefined> {
  const row = await sessionArtifactBySha(deps.db, session.tenantId, session.sessionId, saved.sha256);
  if (!row) return 'its saved workspace is not stored';
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  try {
    await checkWorkspaceTar(await deps.artifacts.open(row), discard, workspaceLimits(deps));
    return undefined;
  } catch (err) {
    if (err instanceof WorkspaceArchiveError) return `its workspace would not restore in a new sandbox: ${err.message}`;
    throw err;
  }
}

const workspaceLimits = (deps: ArtifactToolDeps) => ({ maxBytes: deps.host.limits.workspaceMb * 1024 * 1024, maxEntries: 100_000 });

/**
 * The workspace saved under `ref` for a park of the session's sandbox, or why the sandbox is kept: a process of
 * its own still runs in it (it would die with the container), the save failed, or the tarball would not restore.
 */
export async function parkWorkspace(deps: ArtifactToolDeps, session: SessionRef, ref: string): Promise<ParkedWorkspace | { kept: string }> {
  const strays = await deps.host.strayProcesses(session.sessionId).catch((err: Error) => err);
  if (strays instanceof Error) return { kept: `its sandbox cannot be looked at: ${strays.message}` };
  if (strays.length > 0) return { kept: `${strays.length} process(es) it started still run: ${strays.map((p) => p.args).join('; ').slice(0, 300)}` };
  const saved = await saveWorkspace(deps, session, deps.host.sessionContainer(session.sessionId), ref);
  if ('error' in saved) return { kept: `its workspace could not be saved: ${saved.error}` };
  const refused = await unrestorable(deps, session, saved);
  return refused ? { kept: refused } : saved;
}

/** The workspace an earlier attempt of the same park saved (its ref), if one did. */
export async function savedWorkspace(deps: ArtifactToolDeps, session: SessionRef, ref: string): Promise<ParkedWorkspace | undefined> {
  const row = await artifactByRef(deps.db, session.tenantId, session.sessionId, ref);
  return row ? { sha256: row.sha256, bytes: row.sizeBytes } : undefined;
}

/** At a claim after a park: the session's own parked workspace (pinned by its sha), unpacked into the new sandbox. */
export async function resumeWorkspace(deps: ArtifactToolDeps, session: SessionRef, parked: ParkedWorkspace, containerId: string): Promise<{ resumed: string; files: number; bytes: number }> {
  const row = await sessionArtifactBySha(deps.db, session.tenantId, session.sessionId, parked.sha256);
  if (!row) throw new WorkspaceArchiveError('workspace.tar', `the parked workspace ${parked.sha256.slice(0, 12)} is no longer stored`);
  const counts = await deps.host.restoreWorkspace(containerId, await deps.artifacts.open(row), workspaceLimits(deps));
  return { resumed: parked.sha256, ...counts };
}

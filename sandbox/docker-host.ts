/**
 * One Docker host's sandboxes: claim a container for a session, run tools in
 * it, release it. Containers are found by their labels, never by memory, so a
 * restarted worker (same host id) picks up the sandboxes it owned.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import {
  LABELS,
  SANDBOX_UID,
  WORKSPACE_DIR,
  sandboxContainerSpec,
  workspaceVolumeSpec,
  type SandboxLimits,
  type SandboxSpecInput,
} from './container-spec.js';
import { EXEC_SCRIPT, parseExecOutput, type ExecResult } from './exec-script.js';

export interface DockerSandboxHostOptions {
  readonly docker: Docker;
  /** This worker's identity; its containers carry it as a label. */
  readonly hostId: string;
  /** Separates deployments sharing one engine (the task-queue prefix). */
  readonly pool: string;
  readonly image: string;
  readonly limits: SandboxLimits;
  readonly seccompProfile?: string | undefined;
  /** Per stream, for shell output; file reads use the same cap. */
  readonly outputLimitBytes: number;
}

export interface ClaimedSandbox {
  readonly containerId: string;
  /** False when an existing container of the session was found (a retried claim). */
  readonly created: boolean;
  /** True when the session had a container that had stopped: its files are gone. */
  readonly replacedStopped: boolean;
}

export interface FileEntry {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'link' | 'other';
  readonly size: number;
}

/** A tool failure the model should see (bad path, missing file): not an infrastructure fault. */
export class SandboxToolError extends Error {
  override readonly name = 'SandboxToolError';
}

/** The sandbox container is gone (removed, host restarted): the session needs a new one. */
export class SandboxGoneError extends Error {
  override readonly name = 'SandboxGoneError';
}

const MAX_LIST_ENTRIES = 1000;

function statusCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : undefined;
}

function collector(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
}

export class DockerSandboxHost {
  readonly #o: DockerSandboxHostOptions;

  constructor(options: DockerSandboxHostOptions) {
    this.#o = Object.freeze({ ...options });
  }

  get hostId(): string {
    return this.#o.hostId;
  }

  /** Throws when the engine does not answer. */
  async ping(): Promise<void> {
    await this.#o.docker.ping();
  }

  #labels(session: { tenantId: string; sessionId: string }): Record<string, string> {
    return {
      [LABELS.managed]: 'true',
      [LABELS.host]: this.#o.hostId,
      [LABELS.pool]: this.#o.pool,
      [LABELS.session]: session.sessionId,
      [LABELS.tenant]: session.tenantId,
    };
  }

  async #findSessionContainers(sessionId: string): Promise<Docker.ContainerInfo[]> {
    return this.#o.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.session}=${sessionId}`, `${LABELS.host}=${this.#o.hostId}`, `${LABELS.pool}=${this.#o.pool}`] },
    });
  }

  /** The session's running container, creating it (and its workspace volume) when needed. Idempotent. */
  async claim(session: { tenantId: string; sessionId: string }): Promise<ClaimedSandbox> {
    let replacedStopped = false;
    for (const info of await this.#findSessionContainers(session.sessionId)) {
      if (info.State === 'running') return { containerId: info.Id, created: false, replacedStopped: false };
      replacedStopped = true;
      await this.#removeContainer(info.Id);
    }
    const suffix = createHash('sha256').update(`${this.#o.pool}/${session.sessionId}`).digest('hex').slice(0, 16);
    const input: SandboxSpecInput = {
      image: this.#o.image,
      name: `kortix-sbx-${suffix}`,
      volumeName: `kortix-ws-${suffix}`,
      labels: this.#labels(session),
      limits: this.#o.limits,
      seccompProfile: this.#o.seccompProfile,
    };
    await this.#o.docker.createVolume(workspaceVolumeSpec(input));
    let container: Docker.Container;
    try {
      container = await this.#o.docker.createContainer(sandboxContainerSpec(input));
    } catch (err) {
      // A concurrent attempt of the same claim created it first.
      if (statusCode(err) === 409) {
        const existing = (await this.#findSessionContainers(session.sessionId))[0];
        if (existing) {
          if (existing.State !== 'running') await this.#o.docker.getContainer(existing.Id).start().catch(() => {});
          return { containerId: existing.Id, created: false, replacedStopped };
        }
      }
      throw err;
    }
    await container.start();
    return { containerId: container.id, created: true, replacedStopped };
  }

  /** Removes the session's containers and workspace volumes. Idempotent. */
  async release(sessionId: string): Promise<{ removed: number }> {
    const containers = await this.#findSessionContainers(sessionId);
    for (const info of containers) await this.#removeContainer(info.Id);
    const { Volumes } = await this.#o.docker.listVolumes({
      filters: { label: [`${LABELS.session}=${sessionId}`, `${LABELS.host}=${this.#o.hostId}`, `${LABELS.pool}=${this.#o.pool}`] },
    });
    for (const volume of Volumes ?? []) {
      await this.#o.docker
        .getVolume(volume.Name)
        .remove()
        .catch((err: unknown) => {
          if (statusCode(err) !== 404) throw err;
        });
    }
    return { removed: containers.length };
  }

  async #removeContainer(id: string): Promise<void> {
    await this.#o.docker
      .getContainer(id)
      .remove({ force: true, v: true })
      .catch((err: unknown) => {
        if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
      });
  }

  /** Runs argv in the container as the sandbox user and collects its output. */
  async #run(containerId: string, cmd: string[], stdin?: Buffer): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    const container = this.#o.docker.getContainer(containerId);
    let exec: Docker.Exec;
    try {
      exec = await container.exec({
        Cmd: cmd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: stdin !== undefined,
        User: `${SANDBOX_UID}:${SANDBOX_UID}`,
        WorkingDir: WORKSPACE_DIR,
      });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404 || code === 409) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone: ${(err as Error).message}`);
      throw err;
    }
    const stream = await exec.start({ hijack: true, stdin: stdin !== undefined });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const finished = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    this.#o.docker.modem.demuxStream(stream, collector(out), collector(err));
    if (stdin !== undefined) stream.end(stdin);
    await finished;
    const info = await exec.inspect();
    return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitCode: info.ExitCode ?? -1 };
  }

  /**
   * Runs a shell command once per idempotency key (see exec.sh): a retry with
   * the same key returns the first run's result.
   */
  async exec(containerId: string, request: { key: string; command: string; timeoutSeconds: number }): Promise<ExecResult> {
    const key = createHash('sha256').update(request.key).digest('hex').slice(0, 32);
    const limit = this.#o.outputLimitBytes;
    const { stdout, stderr, exitCode } = await this.#run(containerId, [
      'bash',
      '-c',
      EXEC_SCRIPT,
      'kortix-exec',
      key,
      String(request.timeoutSeconds),
      String(limit),
      request.command,
    ]);
    const parsed = parseExecOutput(stdout, limit);
    if (parsed) return parsed;
    // The runner itself died: the kernel's OOM killer or the pids limit, most likely.
    return {
      exitCode: exitCode === 0 ? -1 : exitCode,
      timedOut: false,
      stdout: '',
      stderr: `the sandbox could not finish the command (exit ${exitCode}${exitCode === 137 ? ', killed: out of memory?' : ''}) ${stderr.toString('utf8').slice(0, 500)}`.trim(),
      truncated: false,
    };
  }

  /** The absolute path of a workspace-relative path after following symlinks, or a SandboxToolError. */
  async #resolve(containerId: string, relative: string): Promise<string> {
    const script =
      'r=$(realpath -m -- "$1") || exit 2; case "$r" in /workspace|/workspace/*) printf %s "$r";; *) exit 3;; esac';
    const target = relative === '.' ? WORKSPACE_DIR : `${WORKSPACE_DIR}/${relative}`;
    const { stdout, exitCode } = await this.#run(containerId, ['bash', '-c', script, 'resolve', target]);
    if (exitCode === 3) throw new SandboxToolError(`path ${relative} leads outside the workspace`);
    if (exitCode !== 0) throw new SandboxToolError(`path ${relative} cannot be resolved`);
    return stdout.toString('utf8');
  }

  /** Creates or replaces a workspace file through the Docker archive API. */
  async writeFile(containerId: string, relative: string, content: string): Promise<{ bytes: number }> {
    const absolute = await this.#resolve(containerId, relative);
    if (absolute === WORKSPACE_DIR) throw new SandboxToolError('path must name a file');
    const data = Buffer.from(content, 'utf8');
    const pack = tar.pack();
    const inside = absolute.slice(WORKSPACE_DIR.length + 1);
    const parts = inside.split('/');
    for (let i = 1; i < parts.length; i++) {
      pack.entry({ name: `${parts.slice(0, i).join('/')}/`, type: 'directory', mode: 0o755, uid: SANDBOX_UID, gid: SANDBOX_UID });
    }
    pack.entry({ name: inside, type: 'file', mode: 0o644, uid: SANDBOX_UID, gid: SANDBOX_UID, size: data.length }, data);
    pack.finalize();
    const body = new PassThrough();
    pack.pipe(body);
    try {
      await this.#o.docker.getContainer(containerId).putArchive(body, { path: WORKSPACE_DIR });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone`);
      if (code === 400 || code === 403 || code === 500) {
        throw new SandboxToolError(`cannot write ${relative}: ${(err as Error).message.split('\n')[0]}`);
      }
      throw err;
    }
    return { bytes: data.length };
  }

  /** Reads a workspace file through the Docker archive API, capped at the output limit. */
  async readFile(containerId: string, relative: string): Promise<{ content: string; bytes: number; truncated: boolean }> {
    const absolute = await this.#resolve(containerId, relative);
    let archive: NodeJS.ReadableStream;
    try {
      archive = await this.#o.docker.getContainer(containerId).getArchive({ path: absolute });
    } catch (err) {
      if (statusCode(err) === 404) throw new SandboxToolError(`no such file: ${relative}`);
      throw err;
    }
    const limit = this.#o.outputLimitBytes;
    return new Promise((resolve, reject) => {
      const extract = tar.extract();
      let done = false;
      extract.on('entry', (header, stream, next) => {
        if (done) {
          stream.resume();
          stream.on('end', next);
          return;
        }
        done = true;
        if (header.type !== 'file') {
          stream.resume();
          reject(new SandboxToolError(`${relative} is a ${header.type === 'directory' ? 'directory' : header.type}, not a file`));
          return;
        }
        const chunks: Buffer[] = [];
        let kept = 0;
        stream.on('data', (data: unknown) => {
          const chunk = data as Buffer;
          if (kept < limit) {
            chunks.push(chunk.subarray(0, limit - kept));
            kept += Math.min(chunk.length, limit - kept);
          }
        });
        stream.on('end', () => {
          const size = header.size ?? kept;
          resolve({ content: Buffer.concat(chunks).toString('utf8'), bytes: size, truncated: size > limit });
          next();
        });
      });
      extract.on('error', reject);
      extract.on('finish', () => {
        if (!done) reject(new SandboxToolError(`no such file: ${relative}`));
      });
      archive.pipe(extract);
    });
  }

  /** Lists up to 1000 entries under a workspace directory (four levels deep). */
  async listFiles(containerId: string, relative: string): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    const absolute = await this.#resolve(containerId, relative);
    const { stdout, exitCode, stderr } = await this.#run(containerId, [
      'bash',
      '-c',
      'test -d "$1" || exit 4; find "$1" -mindepth 1 -maxdepth 4 -printf "%y\\t%s\\t%P\\n" 2>/dev/null | head -n "$2"',
      'list',
      absolute,
      String(MAX_LIST_ENTRIES + 1),
    ]);
    if (exitCode === 4) throw new SandboxToolError(`${relative} is not a directory`);
    if (exitCode !== 0) throw new SandboxToolError(`cannot list ${relative}: ${stderr.toString('utf8').slice(0, 200)}`);
    const lines = stdout.toString('utf8').split('\n').filter(Boolean);
    const types: Record<string, FileEntry['type']> = { f: 'file', d: 'dir', l: 'link' };
    const entries = lines.slice(0, MAX_LIST_ENTRIES).map((line) => {
      const [type = '', size = '0', ...rest] = line.split('\t');
      return { type: types[type] ?? 'other', size: Number(size), path: rest.join('\t') };
    });
    return { entries, truncated: lines.length > MAX_LIST_ENTRIES };
  }

  /** The containers this host owns in this pool (for cleanup and metrics). */
  async listOwned(): Promise<Docker.ContainerInfo[]> {
    return this.#o.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.host}=${this.#o.hostId}`, `${LABELS.pool}=${this.#o.pool}`] },
    });
  }
}

/**
 * The file tools of a sandbox: write, read and list workspace files through
 * the Docker archive API (and one `find`), capped in size. Paths are resolved
 * inside the container first: anything that leads outside /workspace (`..`,
 * absolute paths, symlinks) is refused as a tool error.
 */
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { SANDBOX_UID, WORKSPACE_DIR } from './container-spec.js';
import { statusCode } from './docker-engine.js';
import { SandboxGoneError, SandboxToolError } from './errors.js';
import { execOnce } from './one-shot-exec.js';

export interface FileEntry {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'link' | 'other';
  readonly size: number;
}

const MAX_LIST_ENTRIES = 1000;

export class WorkspaceFiles {
  constructor(
    private readonly docker: Docker,
    /** Reads return at most this many bytes (and say they were truncated). */
    private readonly readLimitBytes: number,
  ) {}

  /** The absolute path of a workspace-relative path after following symlinks, or a SandboxToolError. */
  async #resolve(containerId: string, relative: string): Promise<string> {
    const script = 'r=$(realpath -m -- "$1") || exit 2; case "$r" in /workspace|/workspace/*) printf %s "$r";; *) exit 3;; esac';
    const target = relative === '.' ? WORKSPACE_DIR : `${WORKSPACE_DIR}/${relative}`;
    const { stdout, exitCode } = await execOnce(this.docker, containerId, ['bash', '-c', script, 'resolve', target], { maxBytes: 8192 });
    if (exitCode === 3) throw new SandboxToolError(`path ${relative} leads outside the workspace`);
    if (exitCode !== 0) throw new SandboxToolError(`path ${relative} cannot be resolved`);
    return stdout.toString('utf8');
  }

  /** Creates or replaces a workspace file through the Docker archive API. */
  async write(containerId: string, relative: string, content: string): Promise<{ bytes: number }> {
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
      await this.docker.getContainer(containerId).putArchive(body, { path: WORKSPACE_DIR });
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone`);
      if (code === 400 || code === 403 || code === 500) {
        // A full workspace ends up here too ("no space left on device").
        throw new SandboxToolError(`cannot write ${relative}: ${(err as Error).message.split('\n')[0]}`);
      }
      throw err;
    }
    return { bytes: data.length };
  }

  /** Reads a workspace file through the Docker archive API, capped at the read limit. */
  async read(containerId: string, relative: string): Promise<{ content: string; bytes: number; truncated: boolean }> {
    const absolute = await this.#resolve(containerId, relative);
    let archive: NodeJS.ReadableStream;
    try {
      archive = await this.docker.getContainer(containerId).getArchive({ path: absolute });
    } catch (err) {
      if (statusCode(err) === 404) throw new SandboxToolError(`no such file: ${relative}`);
      throw err;
    }
    const limit = this.readLimitBytes;
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
  async list(containerId: string, relative: string): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    const absolute = await this.#resolve(containerId, relative);
    const { stdout, exitCode, stderr } = await execOnce(this.docker, containerId, [
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
}

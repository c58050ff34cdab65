/**
 * Files in and out of a sandbox as streams, for artifacts (storage/artifacts.ts):
 * the full capture of a shell call's output, the workspace as a tarball at
 * release, and a previous session's tarball unpacked into a new workspace.
 *
 * Out: Docker's archive API tars /workspace (a volume) from the engine's side;
 * links are stored as links, never followed. In: every entry of the tarball is
 * checked first (checkWorkspaceTar) and written again into a clean tarball
 * (names relative to /workspace, owned by the sandbox user, plain permission
 * bits); only when the whole archive passed is it handed to the engine, so a
 * refused archive leaves nothing in the workspace.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { SANDBOX_UID, WORKSPACE_DIR } from './container-spec.js';
import { statusCode } from './docker-engine.js';
import { SandboxGoneError } from './errors.js';

/** Where exec.sh keeps the capture of one stream of a call (its hashed key). */
export function execCapturePath(hashedKey: string, stream: 'stdout' | 'stderr'): string {
  if (!/^[0-9a-f]{1,64}$/.test(hashedKey)) throw new Error('exec key must be hex');
  return `/tmp/.kortix-exec/${hashedKey}.${stream === 'stdout' ? 'out' : 'err'}`;
}

/** A workspace file's absolute path in the sandbox (the relative path was checked by sandbox/tools.ts). */
export function workspaceFilePath(relative: string): string {
  return `${WORKSPACE_DIR}/${relative}`;
}

function gone(err: unknown, containerId: string): never {
  const code = statusCode(err);
  if (code === 404 || code === 409) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone: ${(err as Error).message}`);
  throw err;
}

/**
 * Streams at most `maxBytes` of a regular file of the sandbox (as the sandbox
 * user; a symbolic link or anything else than a regular file is refused: the
 * stream fails). The bytes are the sandbox's own, so no check beyond that.
 */
export async function readSandboxFile(docker: Docker, containerId: string, path: string, maxBytes: number): Promise<NodeJS.ReadableStream> {
  let exec: Docker.Exec;
  try {
    exec = await docker.getContainer(containerId).exec({
      Cmd: ['sh', '-c', '[ -f "$1" ] && [ ! -L "$1" ] && exec head -c "$2" -- "$1"; echo "not a regular file: $1" >&2; exit 3', 'kortix-read', path, String(maxBytes)],
      AttachStdout: true,
      AttachStderr: true,
      User: `${SANDBOX_UID}:${SANDBOX_UID}`,
    });
  } catch (err) {
    gone(err, containerId);
  }
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  let errText = '';
  const errSink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (errText.length < 1000) errText += chunk.toString('utf8');
      done();
    },
  });
  docker.modem.demuxStream(stream, out, errSink);
  stream.on('error', (err: Error) => out.destroy(err));
  stream.on('end', () => {
    exec.inspect().then(
      (info) => (info.ExitCode === 0 ? out.end() : out.destroy(new Error(`reading ${path} in the sandbox failed (exit ${info.ExitCode}): ${errText.trim()}`))),
      (err: Error) => out.destroy(err),
    );
  });
  return out;
}

/** The workspace as a tar stream (entries named `workspace/...`). */
export async function workspaceTarball(docker: Docker, containerId: string): Promise<NodeJS.ReadableStream> {
  try {
    return await docker.getContainer(containerId).getArchive({ path: WORKSPACE_DIR });
  } catch (err) {
    gone(err, containerId);
  }
}

export interface RestoreLimits {
  /** Sum of the files' sizes. */
  readonly maxBytes: number;
  readonly maxEntries: number;
}

/** A workspace tarball that may not be unpacked: the entry and why. Nothing was written. */
export class WorkspaceArchiveError extends Error {
  constructor(readonly entry: string, readonly reason: string) {
    super(`workspace archive refused at ${JSON.stringify(entry.slice(0, 200))}: ${reason}`);
    this.name = 'WorkspaceArchiveError';
  }
}

/**
 * An entry name relative to the workspace root, or the reason it cannot be
 * one. Archives from workspaceTarball name entries `workspace/...`; that first
 * segment is dropped.
 */
export function workspaceEntryPath(name: string): { path: string } | { problem: string } {
  if (name.includes('\0')) return { problem: 'the name contains a NUL byte' };
  if (name.startsWith('/')) return { problem: 'absolute path' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { problem: '".." in the path' };
  if (parts[0] === 'workspace') parts.shift();
  return { path: parts.join('/') };
}

/**
 * Whether a symbolic link at `entryPath` pointing to `target` resolves inside
 * the workspace, following the archive's other links (`links`: path → target)
 * as the kernel would: `m -> l/..` with `l -> .` climbs out, though its text
 * does not.
 */
export function linkStaysInside(links: ReadonlyMap<string, string>, entryPath: string, target: string): boolean {
  const resolves = (dir: string[], text: string, hops: number): boolean => {
    if (hops > 40 || text.includes('\0') || text.startsWith('/')) return false;
    const stack = [...dir];
    const parts = text.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      if (part === '..') {
        if (stack.length === 0) return false;
        stack.pop();
        continue;
      }
      stack.push(part);
      const link = links.get(stack.join('/'));
      if (link !== undefined) {
        stack.pop();
        const rest = parts.slice(i + 1).join('/');
        return resolves(stack, rest ? `${link}/${rest}` : link, hops + 1);
      }
    }
    return true;
  };
  if (target === '') return false;
  return resolves(entryPath.split('/').slice(0, -1), target, 0);
}

/**
 * Reads a tarball, refusing anything that could write outside the workspace or
 * make more than files: `..` or absolute names, NUL bytes, symbolic links that
 * resolve outside (checked once all are known), entries written through a
 * symbolic link, the same path twice, hard links to anything but a file
 * earlier in the same archive, devices and fifos; more bytes or entries than
 * the limits. Writes a clean copy to `out` as it goes.
 */
export async function checkWorkspaceTar(input: NodeJS.ReadableStream, out: NodeJS.WritableStream, limits: RestoreLimits): Promise<{ files: number; bytes: number }> {
  const extract = tar.extract();
  const pack = tar.pack();
  let bytes = 0;
  let entries = 0;
  let files = 0;
  const seenFiles = new Set<string>();
  const seen = new Set<string>();
  const links = new Map<string, string>();
  const throughLink = (path: string): boolean => {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) if (links.has(parts.slice(0, i).join('/'))) return true;
    return false;
  };
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      entries += 1;
      if (entries > limits.maxEntries) throw new WorkspaceArchiveError(h.name, `more than ${limits.maxEntries} entries`);
      const named = workspaceEntryPath(h.name);
      if ('problem' in named) throw new WorkspaceArchiveError(h.name, named.problem);
      const path = named.path;
      if (path !== '' && throughLink(path)) throw new WorkspaceArchiveError(h.name, 'written through a symbolic link of the archive');
      if (h.type !== 'directory' && seen.has(path)) throw new WorkspaceArchiveError(h.name, 'the same path twice');
      seen.add(path);
      const base = { name: path, uid: SANDBOX_UID, gid: SANDBOX_UID, mtime: h.mtime ?? new Date(0) };
      switch (h.type) {
        case 'directory':
          entry.resume();
          if (path !== '') pack.entry({ ...base, type: 'directory', mode: (h.mode ?? 0o755) & 0o777 });
          break;
        case 'file':
        case 'contiguous-file': {
          if (path === '') throw new WorkspaceArchiveError(h.name, 'a file cannot replace the workspace root');
          const size = h.size ?? 0;
          bytes += size;
          if (bytes > limits.maxBytes) throw new WorkspaceArchiveError(h.name, `more than ${limits.maxBytes} bytes in all`);
          const sink = pack.entry({ ...base, type: 'file', size, mode: (h.mode ?? 0o644) & 0o777 });
          await pipeline(entry, sink);
          seenFiles.add(path);
          files += 1;
          break;
        }
        case 'symlink': {
          entry.resume();
          const target = h.linkname ?? '';
          if (path === '' || [...seen].some((p) => p.startsWith(`${path}/`))) throw new WorkspaceArchiveError(h.name, 'a symbolic link over entries already written');
          if (!linkStaysInside(links, path, target)) throw new WorkspaceArchiveError(h.name, `symbolic link to ${JSON.stringify(target.slice(0, 200))} points outside the workspace`);
          links.set(path, target);
          pack.entry({ ...base, type: 'symlink', linkname: target, mode: 0o777 });
          break;
        }
        case 'link': {
          entry.resume();
          const target = workspaceEntryPath(h.linkname ?? '');
          if ('problem' in target || !seenFiles.has(target.path)) {
            throw new WorkspaceArchiveError(h.name, 'hard link to something that is not a file earlier in this archive');
          }
          pack.entry({ ...base, type: 'link', linkname: target.path, mode: (h.mode ?? 0o644) & 0o777 });
          break;
        }
        default:
          throw new WorkspaceArchiveError(h.name, `${h.type ?? 'unknown'} entries are not allowed (only files, directories and links inside)`);
      }
    }
    // A link may climb out through a link that came after it: check each again with all of them known.
    for (const [path, target] of links) {
      if (!linkStaysInside(links, path, target)) throw new WorkspaceArchiveError(path, `symbolic link to ${JSON.stringify(target.slice(0, 200))} points outside the workspace`);
    }
    pack.finalize();
  })();
  const feeding = pipeline(input, extract);
  const packed = pipeline(pack, out);
  // Whichever fails first is the answer; the others' failures that follow are expected.
  feeding.catch(() => undefined);
  packed.catch(() => undefined);
  done.catch(() => undefined);
  try {
    await Promise.all([done, feeding, packed]);
  } catch (err) {
    extract.destroy();
    pack.destroy();
    throw err;
  }
  return { files, bytes };
}

/** Checks the tarball, then unpacks it into /workspace; a refused archive writes nothing. */
export async function restoreWorkspaceTarball(
  docker: Docker,
  containerId: string,
  input: NodeJS.ReadableStream,
  limits: RestoreLimits,
): Promise<{ files: number; bytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'kortix-restore-'));
  try {
    const clean = join(dir, 'workspace.tar');
    const counts = await checkWorkspaceTar(input, createWriteStream(clean), limits);
    try {
      await docker.getContainer(containerId).putArchive(createReadStream(clean), { path: WORKSPACE_DIR });
    } catch (err) {
      gone(err, containerId);
    }
    return counts;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The file tools of a sandbox: write, read and list workspace files, run as
 * the sandbox user by sandbox/workspace-files.py in one `docker exec` each,
 * capped in size.
 *
 * The policy judges a file tool's path as written, inside the workflow, with
 * no view of the container. So these tools act on exactly that path and never
 * on another one: no symbolic link is followed at any component (`ln -s
 * .github g` then `write_file g/x.yml` is refused, not written into
 * .github), a write replaces the directory entry instead of writing through
 * it, and a read refuses a file with other hard links. The script opens each
 * component relative to its parent with O_NOFOLLOW, as the sandbox user, so a
 * link swapped in by a background process while the tool runs fails the open
 * (there is no check-then-write window, as there was with a root-side archive
 * upload after a resolve).
 */
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { SandboxToolError } from './errors.js';
import { execOnce } from './one-shot-exec.js';

export interface FileEntry {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'link' | 'other';
  readonly size: number;
}

const FILE_TOOLS_SCRIPT = readFileSync(new URL('./workspace-files.py', import.meta.url), 'utf8');
const MAX_LIST_ENTRIES = 1000;
/** The script's refusal: one line on stderr, shown to the model. */
const REFUSED = 3;

export class WorkspaceFiles {
  constructor(
    private readonly docker: Docker,
    /** Reads return at most this many bytes (and say they were truncated). */
    private readonly readLimitBytes: number,
  ) {}

  async #run(containerId: string, args: string[], options: { stdin?: Buffer; maxBytes: number }): Promise<Buffer> {
    const { stdout, stderr, exitCode, overflow } = await execOnce(this.docker, containerId, ['python3', '-c', FILE_TOOLS_SCRIPT, ...args], options);
    const message = stderr.toString('utf8').trim().split('\n');
    if (exitCode === REFUSED) throw new SandboxToolError(message[0] ?? `${args[0]} ${args[1]} refused`);
    if (exitCode !== 0 || overflow) {
      throw new SandboxToolError(`cannot ${args[0]} ${args[1]}: ${message.at(-1)?.slice(0, 200) ?? `exit ${exitCode}`}`);
    }
    return stdout;
  }

  /** Creates or replaces a workspace file (and its missing directories), owned by the sandbox user. */
  async write(containerId: string, relative: string, content: string): Promise<{ bytes: number }> {
    const data = Buffer.from(content, 'utf8');
    await this.#run(containerId, ['write', relative], { stdin: data, maxBytes: 64 });
    return { bytes: data.length };
  }

  /** Reads a workspace file, capped at the read limit. */
  async read(containerId: string, relative: string): Promise<{ content: string; bytes: number; truncated: boolean }> {
    const limit = this.readLimitBytes;
    const out = await this.#run(containerId, ['read', relative, String(limit)], { maxBytes: limit + 64 });
    const newline = out.indexOf(0x0a);
    const size = Number(out.subarray(0, newline).toString('latin1'));
    if (newline < 0 || !Number.isSafeInteger(size)) throw new SandboxToolError(`cannot read ${relative}: unexpected answer from the sandbox`);
    return { content: out.subarray(newline + 1).toString('utf8'), bytes: size, truncated: size > limit };
  }

  /** Lists up to 1000 entries under a workspace directory (four levels deep). */
  async list(containerId: string, relative: string): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    const out = await this.#run(containerId, ['list', relative, String(MAX_LIST_ENTRIES + 1)], { maxBytes: 4 * 1024 * 1024 });
    const lines = out.toString('utf8').split('\n').filter(Boolean);
    const types: Record<string, FileEntry['type']> = { f: 'file', d: 'dir', l: 'link' };
    const entries = lines.slice(0, MAX_LIST_ENTRIES).map((line) => {
      const [type = '', size = '0', ...rest] = line.split('\t');
      return { type: types[type] ?? 'other', size: Number(size), path: rest.join('\t') };
    });
    return { entries, truncated: lines.length > MAX_LIST_ENTRIES };
  }
}

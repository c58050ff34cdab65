/**
 * The checks a workspace tarball passes before it is unpacked into a new
 * sandbox (fromSession): hostile archives are refused whole, with the entry.
 */
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { checkWorkspaceTar, linkStaysInside, WorkspaceArchiveError, workspaceEntryPath } from '../../sandbox/workspace-archive.js';

type Entry = { name: string; type?: tar.Header['type']; body?: string; linkname?: string; mode?: number };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = buffer(pack);
  for (const e of entries) {
    const { body, ...header } = e;
    await new Promise<void>((resolve, reject) => {
      pack.entry({ type: 'file', ...header, ...(body !== undefined ? { size: Buffer.byteLength(body) } : {}) }, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  return out;
}

async function entriesOf(archive: Buffer): Promise<Array<{ name: string; type: string | null | undefined; body: string; uid?: number; mode?: number; linkname?: string | null }>> {
  const extract = tar.extract();
  const found: Array<{ name: string; type: string | null | undefined; body: string; uid?: number; mode?: number; linkname?: string | null }> = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const body = (await buffer(entry)).toString();
      found.push({ name: entry.header.name, type: entry.header.type, body, uid: entry.header.uid, mode: entry.header.mode, linkname: entry.header.linkname });
    }
  })();
  Readable.from([archive]).pipe(extract);
  await reading;
  return found;
}

const LIMITS = { maxBytes: 1024 * 1024, maxEntries: 100 };

async function check(entries: Entry[], limits = LIMITS) {
  const out = new PassThrough();
  const collected = buffer(out);
  const counts = await checkWorkspaceTar(Readable.from([await tarOf(entries)]), out, limits);
  return { counts, entries: await entriesOf(await collected) };
}

async function refused(entries: Entry[], reason: RegExp, limits = LIMITS): Promise<void> {
  const out = new PassThrough();
  out.resume();
  const err = await checkWorkspaceTar(Readable.from([await tarOf(entries)]), out, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkspaceArchiveError);
  expect((err as Error).message).toMatch(reason);
}

describe('workspace tarball checks', () => {
  it('rewrites a good archive: names relative to /workspace, owned by the sandbox user, plain permission bits', async () => {
    const { counts, entries } = await check([
      { name: 'workspace/', type: 'directory' },
      { name: 'workspace/src/', type: 'directory' },
      { name: 'workspace/src/a.txt', body: 'hello', mode: 0o4755 },
      { name: 'workspace/link', type: 'symlink', linkname: 'src/a.txt' },
      { name: 'workspace/node_modules/.bin/x', type: 'symlink', linkname: '../../src/a.txt' },
      { name: 'workspace/hard', type: 'link', linkname: 'workspace/src/a.txt' },
    ]);
    expect(counts).toEqual({ files: 1, bytes: 5 });
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['src', 'directory'],
      ['src/a.txt', 'file'],
      ['link', 'symlink'],
      ['node_modules/.bin/x', 'symlink'],
      ['hard', 'link'],
    ]);
    const file = entries.find((e) => e.name === 'src/a.txt');
    expect(file).toMatchObject({ body: 'hello', uid: 1000, mode: 0o755 });
  });

  it('refuses .. and absolute paths', async () => {
    await refused([{ name: '../evil', body: 'x' }], /"\.\." in the path/);
    await refused([{ name: 'workspace/a/../../../etc/passwd', body: 'x' }], /"\.\." in the path/);
    await refused([{ name: '/etc/cron.d/x', body: 'x' }], /absolute path/);
  });

  it('refuses symbolic links that point out, directly or through another link, and writes through links', async () => {
    await refused([{ name: 'l', type: 'symlink', linkname: '/etc' }], /points outside/);
    await refused([{ name: 'a/l', type: 'symlink', linkname: '../../x' }], /points outside/);
    // m -> l/.. reads as inside, but l -> . makes it the parent of the workspace.
    await refused(
      [
        { name: 'm', type: 'symlink', linkname: 'l/..' },
        { name: 'l', type: 'symlink', linkname: '.' },
      ],
      /points outside/,
    );
    await refused(
      [
        { name: 'd', type: 'symlink', linkname: 'sub' },
        { name: 'd/x', body: 'through the link' },
      ],
      /through a symbolic link/,
    );
    await refused([{ name: 'loop', type: 'symlink', linkname: 'loop/x' }], /points outside/);
  });

  it('refuses hard links to anything but a file of the archive, devices, fifos, NUL in names', async () => {
    await refused([{ name: 'h', type: 'link', linkname: '/etc/shadow' }], /hard link/);
    await refused([{ name: 'h', type: 'link', linkname: 'not-there' }], /hard link/);
    await refused([{ name: 'dev', type: 'character-device' }], /character-device entries are not allowed/);
    await refused([{ name: 'blk', type: 'block-device' }], /block-device/);
    await refused([{ name: 'pipe', type: 'fifo' }], /fifo/);
    expect(workspaceEntryPath('a\0b')).toEqual({ problem: 'the name contains a NUL byte' });
    // A NUL in a pax path header reaches the name as written.
    await refused([{ name: `x${'\0'}y${'a'.repeat(120)}`, body: 'x' }], /NUL/);
  });

  it('refuses more bytes or entries than the limits', async () => {
    await refused([{ name: 'big', body: 'x'.repeat(2000) }], /more than 1000 bytes/, { maxBytes: 1000, maxEntries: 10 });
    await refused(
      Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, body: '' })),
      /more than 10 entries/,
      { maxBytes: 1000, maxEntries: 10 },
    );
  });

  it('resolves links as the kernel would', () => {
    const links = new Map([['l', '.']]);
    expect(linkStaysInside(links, 'x', 'l/a')).toBe(true);
    expect(linkStaysInside(links, 'x', 'l/..')).toBe(false);
    expect(linkStaysInside(new Map(), 'a/b/c', '../../d')).toBe(true);
    expect(linkStaysInside(new Map(), 'a/b/c', '../../../d')).toBe(false);
    expect(linkStaysInside(new Map(), 'a', '')).toBe(false);
  });
});

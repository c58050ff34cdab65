/**
 * Downloads of the sandbox browser, host side. The driver
 * (sandbox/browser-downloads.py) lets Chromium save a download under its guid
 * in a directory of the browser user, cancels one past the cap, and reports
 * a finished one as `staged`. Here it is copied into /workspace/downloads by
 * the sandbox user (sandbox/browser-save.py: the browser user cannot write
 * the workspace, and the agent must own its files), under a name cleaned of
 * everything a server may put in Content-Disposition: path separators,
 * `..`, NUL and other control characters, bidi and zero-width characters,
 * and lengths past what a file system takes.
 */
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { isBidi, isZeroWidth } from '../policies/approval-display.js';
import type { BrowserReply } from './browser-protocol.js';
import { execOnce } from './one-shot-exec.js';

const SAVE_SCRIPT = readFileSync(new URL('./browser-save.py', import.meta.url), 'utf8');
const SANDBOX_USER = '1000:1000';
export const DOWNLOADS_DIR = '/workspace/downloads';
/** Bytes of a saved name at most (file systems take 255; room is left for " (99)"). */
export const MAX_DOWNLOAD_NAME_BYTES = 200;
const MAX_EXTENSION_CHARS = 16;

/** C0 and C1 controls (tab and newline too), DEL, bidi controls, zero-width characters, lone surrogates. */
function unsafe(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff) || isBidi(cp) || isZeroWidth(cp);
}

function cutToBytes(text: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** A download's name as it is saved: one plain, visible file name (never empty, `.` or `..`). */
export function downloadName(suggested: string): string {
  let name = [...suggested]
    .map((ch) => (unsafe(ch.codePointAt(0) ?? 0) ? '_' : ch))
    .join('')
    .replace(/[/\\]/g, '_')
    .trim()
    // No hidden files (a name like `.bashrc`), no `.` or `..`, no trailing dots or spaces.
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  if (Buffer.byteLength(name, 'utf8') > MAX_DOWNLOAD_NAME_BYTES) {
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 && name.length - dot <= MAX_EXTENSION_CHARS + 1 ? name.slice(dot) : '';
    name = cutToBytes(name.slice(0, name.length - ext.length), MAX_DOWNLOAD_NAME_BYTES - Buffer.byteLength(ext, 'utf8')) + ext;
  }
  return name === '' ? 'download' : name;
}

interface Staged {
  readonly suggested: string;
  readonly bytes: number;
  readonly staged: string;
  readonly url: string;
}

function isStaged(v: unknown): v is Staged {
  const s = v as Partial<Staged> | null;
  return typeof s === 'object' && s !== null && typeof s.staged === 'string' && typeof s.suggested === 'string' && typeof s.bytes === 'number';
}

/**
 * The reply with its staged downloads saved into /workspace/downloads: each
 * becomes `{ name, path, bytes, url }` (and `suggested` when the name was
 * cleaned); one that cannot be saved (no space in the workspace, a link at
 * /workspace/downloads) makes the action fail with the reason.
 */
export async function saveDownloads(docker: Docker, containerId: string, reply: BrowserReply, maxBytes: number): Promise<BrowserReply> {
  const list = reply.downloads;
  if (!Array.isArray(list) || list.length === 0) return reply;
  const staged = list.filter(isStaged);
  const items = staged.map((s) => ({ staged: s.staged, name: downloadName(s.suggested), max: maxBytes }));
  const r = await execOnce(docker, containerId, ['python3', '-c', SAVE_SCRIPT], { stdin: Buffer.from(JSON.stringify(items)), user: SANDBOX_USER, maxBytes: 64 * 1024 });
  let saved: ({ name: string; path: string; bytes: number } | { error: string })[];
  try {
    saved = JSON.parse(r.stdout.toString('utf8')) as typeof saved;
    if (!Array.isArray(saved) || saved.length !== items.length) throw new Error('not one answer per download');
  } catch {
    saved = items.map(() => ({ error: `the download could not be saved (exit ${r.exitCode}): ${r.stderr.toString('utf8').slice(-200)}` }));
  }
  const downloads: Record<string, unknown>[] = [];
  const errors: string[] = [];
  saved.forEach((s, i) => {
    const from = staged[i] as Staged;
    if ('error' in s) return errors.push(s.error);
    downloads.push({ name: s.name, path: s.path, bytes: s.bytes, url: from.url, ...(s.name !== from.suggested ? { suggested: from.suggested } : {}) });
  });
  const { downloads: _staged, ...rest } = reply;
  const out: BrowserReply = { ...rest, ...(downloads.length > 0 ? { downloads } : {}) };
  if (errors.length === 0) return out;
  const error = [typeof reply.error === 'string' ? reply.error : undefined, ...errors].filter(Boolean).join('; ');
  return { ...out, ok: false, error };
}

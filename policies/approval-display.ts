/**
 * What an approver is shown, the same in Slack and in the API inbox: the
 * whole subject of the gate (the shell command, or the tool's arguments as
 * canonical JSON), its sha256, flags for characters that can make the text
 * read differently from what runs, and a rendering in which those characters
 * are visible as `<U+202E>`. A right-to-left override or a zero-width space
 * in a command is otherwise invisible to the person approving it.
 */
import { createHash } from 'node:crypto';
import { BROWSER_TOOL } from './browser-url.js';
import { canonicalJson } from '../domain/canonical-json.js';

export const DISPLAY_FLAGS = ['non_ascii', 'bidi', 'zero_width', 'control'] as const;
export type DisplayFlag = (typeof DISPLAY_FLAGS)[number];

export interface ApprovalDisplay {
  /** The canonical text approved: the shell command as the model sent it, else canonical JSON of the arguments. */
  readonly subject: string;
  /** sha256 (hex) of the subject's UTF-8 bytes. */
  readonly sha256: string;
  readonly bytes: number;
  readonly flags: readonly DisplayFlag[];
  /** The subject with bidi, zero-width and control characters (and lone surrogates) as `<U+XXXX>`. */
  readonly safe: string;
}

/** Embedding, override and isolate controls, and the Arabic letter mark. */
export function isBidi(cp: number): boolean {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp === 0x061c;
}

/** Zero-width space, joiners, marks (U+200B-200F), word joiner and BOM. */
export function isZeroWidth(cp: number): boolean {
  return (cp >= 0x200b && cp <= 0x200f) || cp === 0x2060 || cp === 0xfeff;
}

/** C0 (but tab and newline, which read as what they are), DEL, C1, and lone surrogates. */
function isControl(cp: number): boolean {
  return (cp < 0x20 && cp !== 0x09 && cp !== 0x0a) || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff);
}

function visible(cp: number): string {
  return `<U+${cp.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/**
 * A browser call as an approver reads it: the action and the URL it leads to (a goto's target, else the
 * page it acts on, which the workflow adds as `page_url`), then its other arguments as canonical JSON.
 */
function browserSubject(args: Readonly<Record<string, unknown>>): string {
  const { action, url, page_url: pageUrl, ...rest } = args;
  const target = action === 'goto' ? url : pageUrl;
  const head = `browser ${typeof action === 'string' ? action : canonicalJson(action ?? null)} ${typeof target === 'string' ? target : '(no page yet)'}`;
  const extra = action === 'goto' && typeof pageUrl === 'string' ? { ...rest, from_page: pageUrl } : rest;
  return Object.keys(extra).length > 0 ? `${head}\n${canonicalJson(extra)}` : head;
}

/**
 * A shell call that mounts secrets (the workflow adds `secret_mounts` to its gate's arguments): which
 * secret goes to which file, one line each above the command. Names and paths only, never a value.
 */
function mountLines(args: Readonly<Record<string, unknown>>): string {
  const mounts = Array.isArray(args.secret_mounts) ? (args.secret_mounts as unknown[]) : [];
  return mounts
    .map((m) => (m && typeof m === 'object' ? (m as Record<string, unknown>) : {}))
    .map((m) => `# mounts secret ${String(m.name)} at ${String(m.path)} for this command only\n`)
    .join('');
}

/** The text an approval is about. */
export function approvalSubject(tool: string, args: Readonly<Record<string, unknown>>): string {
  if (tool === BROWSER_TOOL) return browserSubject(args);
  return tool === 'shell' && typeof args.command === 'string' ? `${mountLines(args)}${args.command}` : canonicalJson(args);
}

/** Renders any text for an approver: flags, and hidden characters made visible. */
export function displayText(text: string): Omit<ApprovalDisplay, 'subject' | 'sha256' | 'bytes'> {
  const flags = new Set<DisplayFlag>();
  let safe = '';
  let index = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0x80) flags.add('non_ascii');
    const hidden = isBidi(cp) ? 'bidi' : isZeroWidth(cp) ? 'zero_width' : isControl(cp) ? 'control' : undefined;
    if (hidden) flags.add(hidden);
    // A literal "<U+" would read like a character made visible: its "<" is shown as <U+003C>.
    const spoof = ch === '<' && text.startsWith('U+', index + 1);
    safe += hidden || spoof ? visible(cp) : ch;
    index += ch.length;
  }
  return { flags: DISPLAY_FLAGS.filter((f) => flags.has(f)), safe };
}

/** What Slack and the inbox show for a gate's tool call. */
export function approvalDisplay(tool: string, args: Readonly<Record<string, unknown>>): ApprovalDisplay {
  const subject = approvalSubject(tool, args);
  const bytes = Buffer.from(subject, 'utf8');
  return { subject, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, ...displayText(subject) };
}

/**
 * Where the browser tool may be sent: the check of a URL before the browser
 * navigates (the tool calls it for `goto`; the workflow's policy evaluation
 * calls it too, so a refused URL is denied with its reason before any
 * sandbox work). Pure, no Node built-ins: workflow code imports it.
 *
 * This is the first line only. The egress proxy is authoritative for the
 * network (it sees every request, redirects included, and resolves names
 * itself); this check refuses what never goes through the proxy (schemes
 * the browser handles itself, files) and says early, with the reason, what
 * the proxy would refuse anyway.
 */
import { addressLiteral, isInternalAddress } from './internal-address.js';
import { hostPatterns, matchAllowlist } from './host-patterns.js';

/** The browser tool's actions, as policy rules name them (`match.browserAction`). */
export const BROWSER_ACTIONS = ['goto', 'click', 'type', 'press', 'extract', 'screenshot', 'back', 'tabs'] as const;
export type BrowserAction = (typeof BROWSER_ACTIONS)[number];

/** The tool's name, as policies and the workflow know it. */
export const BROWSER_TOOL = 'browser';

export const MAX_BROWSER_URL_LENGTH = 8 * 1024;
/** The only directory the browser may open files from. */
export const BROWSER_FILE_ROOT = '/workspace';

/** A sandbox's own loopback: the browser's (an agent's dev server), never the host's (a different network namespace). */
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

export type BrowserUrlVerdict =
  | {
      readonly ok: true;
      /** The URL as the browser will load it (WHATWG-normalised). */
      readonly url: string;
      readonly scheme: 'http' | 'https' | 'file' | 'about';
      /** Lower-case host ('' for file: and about:). */
      readonly host: string;
      readonly port: number | undefined;
      /** True for the sandbox's own loopback (never through the proxy). */
      readonly loopback: boolean;
    }
  | { readonly ok: false; readonly reason: string };

export interface BrowserUrlOptions {
  /** The session policy's network section; without it the host is not checked against a policy. */
  readonly network?: { readonly allow: readonly string[]; readonly approve?: readonly string[] | undefined } | undefined;
  /** Loopback ports that belong to the browser's driver (a debugging port): refused. */
  readonly reservedLoopbackPorts?: readonly number[] | undefined;
}

const refuse = (reason: string): BrowserUrlVerdict => ({ ok: false, reason });

/** Control characters, DEL, and lone surrogates: a URL with any is refused, not repaired. */
function hiddenCharacter(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return 'a lone surrogate';
    }
    if (c >= 0xdc00 && c <= 0xdfff) return 'a lone surrogate';
  }
  return undefined;
}

function checkFile(url: URL, raw: string): BrowserUrlVerdict {
  if (url.host !== '' && url.host !== 'localhost') return refuse(`file URLs name no host (got ${url.host}): only files of this sandbox's ${BROWSER_FILE_ROOT} open`);
  // Encoded separators would be decoded by the file loader after this check: refused outright.
  if (/%(2f|5c|00)/i.test(url.pathname)) return refuse('file URLs with encoded slashes, backslashes or NUL are refused');
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return refuse('the file URL has a malformed %-escape');
  }
  if (path.split('/').some((segment) => segment === '..' || segment === '.')) return refuse('file URLs must not contain "." or ".." segments');
  if (path !== BROWSER_FILE_ROOT && !path.startsWith(`${BROWSER_FILE_ROOT}/`)) {
    return refuse(`${raw.slice(0, 200)} is outside ${BROWSER_FILE_ROOT}: the browser opens only files of the workspace`);
  }
  return { ok: true, url: url.href, scheme: 'file', host: '', port: undefined, loopback: false };
}

function checkWeb(url: URL, options: BrowserUrlOptions): BrowserUrlVerdict {
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  if (url.username !== '' || url.password !== '') return refuse('URLs with user:password@ are refused: the browser would send those credentials to the host (log in through the page instead)');
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (host === '') return refuse('the URL has no host');
  const port = url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port);
  const loopback = LOOPBACK_NAMES.has(host) || host.endsWith('.localhost') || /^127\./.test(host);
  if (loopback) {
    if ((options.reservedLoopbackPorts ?? []).includes(port)) return refuse(`port ${port} of this sandbox's loopback belongs to the browser's driver: refused`);
    return { ok: true, url: url.href, scheme, host, port, loopback: true };
  }
  const allow = hostPatterns(options.network?.allow);
  // The URL parser already turned 0xA9FEA9FE or 2852039166 into 169.254.169.254.
  const literal = addressLiteral(host);
  if (literal !== undefined && isInternalAddress(literal)) {
    // Only an address the policy names exactly (an author's explicit choice) passes; the proxy applies the same.
    if (!allow.some((e) => e.host === literal && (e.port === undefined ? port === 80 || port === 443 : e.port === port))) {
      return refuse(`${host} is an internal address (${internalKind(literal)}): the browser never goes there`);
    }
  }
  if (options.network) {
    const approve = hostPatterns(options.network.approve);
    if (!matchAllowlist(allow, host, port) && !matchAllowlist(approve, host, port)) {
      const named = allow.length + approve.length === 0 ? "the session's policy names no hosts" : `${host}:${port} is not named in the session's policy (network.allow)`;
      return refuse(`navigation refused: ${named}`);
    }
  }
  return { ok: true, url: url.href, scheme, host, port, loopback: false };
}

function internalKind(address: string): string {
  if (address.startsWith('169.254.')) return 'link-local, where cloud metadata answers';
  if (/^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(address)) return 'a private network: the host, or another sandbox';
  if (address.startsWith('127.') || address === '::1') return 'loopback';
  return 'not a public address';
}

/** Whether the browser tool may load `raw`, and where it leads; see the file comment. */
export function checkBrowserUrl(raw: unknown, options: BrowserUrlOptions = {}): BrowserUrlVerdict {
  if (typeof raw !== 'string' || raw.trim() === '') return refuse('the URL is empty');
  if (raw.length > MAX_BROWSER_URL_LENGTH) return refuse(`the URL is longer than ${MAX_BROWSER_URL_LENGTH} characters`);
  const hidden = hiddenCharacter(raw);
  if (hidden) return refuse(`the URL contains ${hidden}`);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return refuse(`${JSON.stringify(raw.slice(0, 200))} is not an absolute URL (like https://example.com/)`);
  }
  switch (url.protocol) {
    case 'http:':
    case 'https:':
      return checkWeb(url, options);
    case 'file:':
      return checkFile(url, raw);
    case 'about:':
      return url.href === 'about:blank' ? { ok: true, url: url.href, scheme: 'about', host: '', port: undefined, loopback: false } : refuse(`${url.href} is refused: only about:blank`);
    default:
      return refuse(`${url.protocol} URLs are refused: the browser opens http(s) pages the policy names, files under ${BROWSER_FILE_ROOT} and about:blank`);
  }
}

/** The host a browser action works on: a goto's target, else the page's (undefined when there is none). */
export function browserActionHost(args: Readonly<Record<string, unknown>>, pageUrl: string | undefined): string | undefined {
  const target = args.action === 'goto' ? args.url : pageUrl;
  if (typeof target !== 'string') return undefined;
  try {
    const url = new URL(target);
    return url.hostname.toLowerCase().replace(/\.$/, '');
  } catch {
    return undefined;
  }
}

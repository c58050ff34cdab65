/**
 * The `browser` tool as the model sees it: its JSON Schema and the checks of
 * its arguments (the workflow runs them; the sandbox's driver,
 * sandbox/browser-driver.py, carries the actions out). Imported by workflow
 * code: pure, no Node built-ins.
 */
import { BROWSER_ACTIONS, BROWSER_TOOL, MAX_BROWSER_URL_LENGTH, checkBrowserUrl, type BrowserAction } from '../policies/browser-url.js';

export const DEFAULT_BROWSER_TIMEOUT_SECONDS = 15;
export const MAX_BROWSER_TIMEOUT_SECONDS = 60;
export const MAX_SELECTOR_LENGTH = 1000;
export const MAX_TYPED_TEXT_LENGTH = 10_000;
/** Keys `press` knows by name; any single character is typed as itself. */
export const BROWSER_KEYS = ['Enter', 'Tab', 'Escape', 'Backspace', 'Delete', 'ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'PageUp', 'PageDown', 'Home', 'End', 'Space'] as const;
export const TAB_OPS = ['list', 'switch', 'close'] as const;

/** A browser call whose arguments passed the checks: the fields its action needs, nothing else. */
export type BrowserArgs = {
  readonly action: BrowserAction;
  readonly url?: string;
  readonly selector?: string;
  readonly text?: string;
  readonly link?: number;
  readonly key?: string;
  readonly op?: (typeof TAB_OPS)[number];
  readonly index?: number;
  readonly timeout_seconds: number;
};

export const BROWSER_DEFINITION = {
  type: 'function',
  function: {
    name: BROWSER_TOOL,
    description:
      "Drive the sandbox's headless browser (one per session; it reaches only the hosts the policy allows). " +
      'Actions: goto {url}; click {selector | text | link} (link: a number [n] from extract); type {selector, text} (replaces the field); ' +
      'press {key} (Enter, Tab, Escape, arrows, or one character); extract (the page text with links numbered [n] and its form fields); ' +
      'screenshot (shown to the people in the console); back; tabs {op: list | switch | close, index}. ' +
      'Each result says what changed (url, title, text near the action); errors (timeout, refused navigation, element not found) come back as results.',
    parameters: {
      type: 'object',
      properties: {
        action: { type: 'string', enum: [...BROWSER_ACTIONS] },
        url: { type: 'string', description: 'goto: an absolute http(s) URL, or file:///workspace/…' },
        selector: { type: 'string', description: 'click, type: a CSS selector (extract lists the form fields with theirs).' },
        text: { type: 'string', description: 'click: the visible text of what to click; type: the text to type.' },
        link: { type: 'integer', minimum: 1, description: 'click: the number [n] of a link in the last extract.' },
        key: { type: 'string', description: `press: ${BROWSER_KEYS.join(', ')}, or one character.` },
        op: { type: 'string', enum: [...TAB_OPS], description: 'tabs: list (default), switch to or close tab `index`.' },
        index: { type: 'integer', minimum: 1, description: 'tabs: the tab number from the list.' },
        timeout_seconds: {
          type: 'integer',
          minimum: 1,
          maximum: MAX_BROWSER_TIMEOUT_SECONDS,
          description: `How long to wait for the page (default ${DEFAULT_BROWSER_TIMEOUT_SECONDS}).`,
        },
      },
      required: ['action'],
      additionalProperties: false,
    },
  },
} as const;

/** Which fields each action takes (required ones first in `need`). */
const FIELDS: Record<BrowserAction, { need: readonly string[]; may: readonly string[] }> = {
  goto: { need: ['url'], may: [] },
  click: { need: [], may: ['selector', 'text', 'link'] },
  type: { need: ['selector', 'text'], may: [] },
  press: { need: ['key'], may: [] },
  extract: { need: [], may: [] },
  screenshot: { need: [], may: [] },
  back: { need: [], may: [] },
  tabs: { need: [], may: ['op', 'index'] },
};

/** `host:port` of an http(s) URL, as a policy would name it (none for other URLs). */
function namedAs(url: string): string[] {
  try {
    const u = new URL(url.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return [];
    return [`${u.hostname.replace(/\.$/, '')}:${u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : u.port}`];
  } catch {
    return [];
  }
}

/** NUL and lone surrogates cannot reach the page (or the JSON the driver reads) intact: refused. */
function badText(v: string): string | undefined {
  if (v.includes('\0')) return 'contains a NUL byte';
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v)) return 'contains a lone surrogate';
  return undefined;
}

function text(args: Record<string, unknown>, key: string, max: number): string | { error: string } {
  const v = args[key];
  if (typeof v !== 'string') return { error: `argument "${key}" must be a string` };
  if (v.length > max) return { error: `argument "${key}" is longer than ${max} characters` };
  const bad = badText(v);
  return bad ? { error: `argument "${key}" ${bad}` } : v;
}

function positive(args: Record<string, unknown>, key: string, max: number): number | { error: string } {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) return { error: `argument "${key}" must be an integer from 1 to ${max}` };
  return v;
}

/** The browser call's arguments checked for its action; an error the model reads otherwise. */
export function parseBrowserArgs(args: Record<string, unknown>): { args: BrowserArgs } | { error: string } {
  const action = args.action;
  if (typeof action !== 'string' || !(BROWSER_ACTIONS as readonly string[]).includes(action)) {
    return { error: `argument "action" must be one of ${BROWSER_ACTIONS.join(', ')}` };
  }
  const fields = FIELDS[action as BrowserAction];
  const known = new Set([...fields.need, ...fields.may, 'action', 'timeout_seconds']);
  const extra = Object.keys(args).filter((k) => !known.has(k));
  if (extra.length > 0) return { error: `${action} takes no argument ${extra.map((k) => `"${k}"`).join(', ')}` };
  const missing = fields.need.filter((k) => args[k] === undefined);
  if (missing.length > 0) return { error: `${action} needs ${missing.map((k) => `"${k}"`).join(' and ')}` };
  const t = args.timeout_seconds === undefined ? DEFAULT_BROWSER_TIMEOUT_SECONDS : positive(args, 'timeout_seconds', MAX_BROWSER_TIMEOUT_SECONDS);
  if (typeof t !== 'number') return t;
  const out: { -readonly [K in keyof BrowserArgs]: BrowserArgs[K] } = { action: action as BrowserAction, timeout_seconds: t };
  switch (action as BrowserAction) {
    case 'goto': {
      const url = text(args, 'url', MAX_BROWSER_URL_LENGTH);
      if (typeof url !== 'string') return url;
      // The URL's form only (scheme, file paths, credentials, characters): its host is the policy's to
      // judge (evaluatePolicy) and the proxy's, so here it counts as named.
      const verdict = checkBrowserUrl(url, { network: { allow: namedAs(url) } });
      if (!verdict.ok) return { error: `navigation refused: ${verdict.reason}` };
      out.url = verdict.url;
      break;
    }
    case 'click': {
      const given = ['selector', 'text', 'link'].filter((k) => args[k] !== undefined);
      if (given.length !== 1) return { error: 'click needs exactly one of "selector", "text" or "link"' };
      if (args.link !== undefined) {
        const link = positive(args, 'link', 100_000);
        if (typeof link !== 'number') return link;
        out.link = link;
      } else {
        const key = given[0] as 'selector' | 'text';
        const v = text(args, key, MAX_SELECTOR_LENGTH);
        if (typeof v !== 'string') return v;
        if (v.trim() === '') return { error: `argument "${key}" is empty` };
        out[key] = v;
      }
      break;
    }
    case 'type': {
      const selector = text(args, 'selector', MAX_SELECTOR_LENGTH);
      if (typeof selector !== 'string') return selector;
      if (selector.trim() === '') return { error: 'argument "selector" is empty' };
      const typed = text(args, 'text', MAX_TYPED_TEXT_LENGTH);
      if (typeof typed !== 'string') return typed;
      out.selector = selector;
      out.text = typed;
      break;
    }
    case 'press': {
      const key = text(args, 'key', 20);
      if (typeof key !== 'string') return key;
      if (!(BROWSER_KEYS as readonly string[]).includes(key) && [...key].length !== 1) {
        return { error: `argument "key" must be one of ${BROWSER_KEYS.join(', ')} or a single character` };
      }
      out.key = key;
      break;
    }
    case 'tabs': {
      const op = args.op ?? 'list';
      if (typeof op !== 'string' || !(TAB_OPS as readonly string[]).includes(op)) return { error: `argument "op" must be one of ${TAB_OPS.join(', ')}` };
      out.op = op as BrowserArgs['op'];
      if (op !== 'list') {
        const index = positive(args, 'index', 100);
        if (typeof index !== 'number') return index;
        out.index = index;
      }
      break;
    }
    default:
      break;
  }
  return { args: out };
}

/**
 * The `browser` tool call in the activity: the checked arguments become one
 * request to the sandbox's browser (sandbox/browser-host.ts), and its answer
 * becomes what the model reads. A screenshot's pixels do not go to the model
 * (a text model cannot use them, and they would fill its context): the result
 * says one was taken, and the image goes to the session's events, where the
 * console shows it.
 */
import type { DockerSandboxHost } from '../sandbox/docker-host.js';
import type { BrowserImage, BrowserRequest } from '../sandbox/browser-protocol.js';
import type { BrowserArgs } from '../sandbox/browser-tool.js';
import type { ToolResultPayload } from './types.js';

/** Base64 of a stored screenshot at most (the driver switches to JPEG above ~300 KB of PNG). */
export const MAX_SCREENSHOT_BASE64 = 600_000;

function request(args: BrowserArgs): BrowserRequest {
  const timeout_s = args.timeout_seconds;
  switch (args.action) {
    case 'goto':
      return { action: 'goto', url: args.url ?? '', timeout_s };
    case 'click':
      return {
        action: 'click',
        ...(args.selector !== undefined ? { selector: args.selector } : {}),
        ...(args.text !== undefined ? { text: args.text } : {}),
        ...(args.link !== undefined ? { link: args.link } : {}),
        timeout_s,
      };
    case 'type':
      return { action: 'type', selector: args.selector ?? '', text: args.text ?? '', timeout_s };
    case 'press':
      return { action: 'press', key: args.key ?? '', timeout_s };
    case 'tabs':
      return { action: 'tabs', op: args.op ?? 'list', ...(args.index !== undefined ? { index: args.index } : {}), timeout_s };
    case 'screenshot':
      return { action: 'screenshot', max_bytes: Math.floor((MAX_SCREENSHOT_BASE64 * 3) / 4), timeout_s };
    default:
      return { action: args.action, timeout_s };
  }
}

/** The host of a refused target: an absolute URL (plain http) or host:port (CONNECT). */
function targetHost(target: string): string {
  try {
    return new URL(target).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return target.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  }
}

/**
 * What the egress proxy refused during the action, said to the model: a redirect to a host the policy
 * does not name is a new request the proxy refuses, and Chromium shows only a failed tunnel (https) or
 * the proxy's 403 page (http). When the page itself (or the navigation that failed) was refused, the
 * action fails with the proxy's reason; refused subresources are listed (the last five).
 */
function withRefusals(result: ToolResultPayload, refusals: readonly { target: string; reason: string }[]): ToolResultPayload {
  if (refusals.length === 0) return result;
  const refused = refusals.slice(-5).map((r) => ({ target: r.target, reason: r.reason }));
  const pageHost = typeof result.url === 'string' ? targetHost(result.url) : undefined;
  const page = refusals.find((r) => pageHost !== undefined && targetHost(r.target) === pageHost) ?? (result.ok ? undefined : refusals[refusals.length - 1]);
  if (!page) return { ...result, refused };
  const why = `navigation refused by the egress proxy: ${page.reason}`;
  return { ...result, ok: false, refused, error: typeof result.error === 'string' ? `${why} (${result.error})` : why };
}

/** Runs one browser action; `image` is set for a screenshot (for the session's events, not the model). */
export async function runBrowserTool(
  host: DockerSandboxHost,
  containerId: string,
  args: BrowserArgs,
  signal: AbortSignal,
): Promise<{ result: ToolResultPayload; image?: BrowserImage }> {
  const startedAt = Date.now();
  const reply = await host.browser(containerId, request(args), { signal });
  const { image, driver: _driver, ...answer } = reply;
  const rest = withRefusals(answer, await host.egressRefusals(containerId, startedAt));
  if (!image) return { result: rest };
  if (typeof image.data !== 'string' || image.data.length > MAX_SCREENSHOT_BASE64) {
    return { result: { ...rest, ok: false, error: 'the screenshot was larger than the session can store' } };
  }
  const bytes = Math.floor((image.data.length * 3) / 4);
  return {
    result: {
      ...rest,
      screenshot: { format: image.format, width: image.width, height: image.height, bytes, shown: 'in the session console (event browser.screenshot)' },
    },
    image,
  };
}

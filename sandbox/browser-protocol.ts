/**
 * What the host and the sandbox's browser driver (sandbox/browser-driver.py)
 * say to each other: one JSON request a line, one JSON answer a line. Types
 * only, so the relay (browser-host.ts), the download step
 * (browser-downloads.ts) and the browser activity share them without
 * importing each other.
 */

/** One browser action as the driver reads it (see sandbox/tools.ts for what the model may send). */
export type BrowserAction =
  | { readonly action: 'goto'; readonly url: string }
  | { readonly action: 'click'; readonly selector?: string; readonly text?: string; readonly link?: number }
  | { readonly action: 'type'; readonly selector: string; readonly text: string }
  | { readonly action: 'press'; readonly key: string }
  | { readonly action: 'extract'; readonly max_chars?: number }
  | { readonly action: 'screenshot'; readonly max_bytes?: number }
  | { readonly action: 'back' }
  | { readonly action: 'tabs'; readonly op: 'list' | 'switch' | 'close'; readonly index?: number };

export type BrowserRequest = BrowserAction & {
  readonly timeout_s?: number;
  /** The session's egress proxy; without it the driver uses the container's HTTP_PROXY, if any. */
  readonly proxy?: string | undefined;
};

export interface BrowserImage {
  readonly format: 'png' | 'jpeg';
  readonly width: number;
  readonly height: number;
  /** Base64. */
  readonly data: string;
}

/** The driver's answer: `ok`, what changed (url, title, text, near…), or `error`; `notice` after a restart. */
export interface BrowserReply {
  readonly ok: boolean;
  readonly error?: string;
  readonly notice?: string;
  readonly driver?: 'down';
  readonly image?: BrowserImage;
  readonly [key: string]: unknown;
}

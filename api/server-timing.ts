/**
 * `Server-Timing` (W3C Server Timing) for the API's routes: a route marks where
 * each of its stages ends, and its response says how long each took, then the
 * whole request's `total` (from the first middleware on). Clients, browser dev
 * tools and the bench (bench/throughput.ts) read where a slow request's time
 * went without a trace backend. A mark is a performance.now() read and a push,
 * cheap enough for a hot route; a route that marks nothing gets no header.
 */
import type { Context, MiddlewareHandler } from 'hono';

declare module 'hono' {
  interface ContextVariableMap {
    serverTiming: StageClock;
  }
}

interface Stage {
  readonly name: string;
  readonly ms: number;
  readonly description?: string | undefined;
}

/** Consecutive stages of one request: each runs from the previous mark (the first from the request's start). */
export class StageClock {
  readonly #started: number;
  #last: number;
  readonly #stages: Stage[] = [];

  constructor(started = performance.now()) {
    this.#started = started;
    this.#last = started;
  }

  /** Ends the stage running now as `name`; the next starts here. */
  mark(name: string, description?: string): void {
    const now = performance.now();
    this.#stages.push({ name, ms: now - this.#last, description });
    this.#last = now;
  }

  get marked(): boolean {
    return this.#stages.length > 0;
  }

  /** The header's value: the stages in order, then `total` since the request's start. */
  header(now = performance.now()): string {
    return [...this.#stages, { name: 'total', ms: now - this.#started, description: undefined }]
      .map(({ name, ms, description }) => `${name};dur=${ms.toFixed(1)}${description ? `;desc=${JSON.stringify(description)}` : ''}`)
      .join(', ');
  }
}

/** Outermost middleware: starts the request's clock and, if its route marked stages, sends them (errors too). */
export function serverTiming(): MiddlewareHandler {
  return async (c, next) => {
    const clock = new StageClock();
    c.set('serverTiming', clock);
    await next();
    if (clock.marked) c.res.headers.set('server-timing', clock.header());
  };
}

/** Ends the request's current stage as `name` (nothing in an app mounted without serverTiming()). */
export function markStage(c: Context, name: string, description?: string): void {
  c.get('serverTiming')?.mark(name, description);
}

/** One entry of a `Server-Timing` value: a name, then `;param=value` pairs (a value may be a quoted string holding `,` or `;`). */
const ENTRY = /\s*([^\s,;]+)((?:\s*;\s*[^\s,;=]+(?:=(?:"(?:[^"\\]|\\.)*"|[^,;]*))?)*)\s*(?:,|$)/g;

/** Durations by name from a `Server-Timing` value (entries without `dur` left out); {} for none. */
export function parseServerTiming(header: string | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [, name = '', params = ''] of (header ?? '').matchAll(ENTRY)) {
    const dur = /;\s*dur=([^;,\s]+)/.exec(params)?.[1];
    const ms = Number(dur);
    if (dur !== undefined && Number.isFinite(ms)) out[name] = ms;
  }
  return out;
}

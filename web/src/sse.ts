/**
 * The session's events over SSE with fetch (EventSource cannot send the
 * Bearer header). After a dropped connection it reconnects with
 * `Last-Event-ID` = the last seq it kept, and drops any seq it has already
 * seen, so a resume never duplicates. It stops after `session.ended`.
 */
import { useEffect, useState } from 'react';
import { TERMINAL_EVENT } from '../../domain/events.js';
import { authHeaders } from './api.js';
import type { SessionEvent } from './types.js';

export function parseSseBlock(block: string): SessionEvent | undefined {
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('data:')) data += line.slice(line[5] === ' ' ? 6 : 5);
  }
  return data ? (JSON.parse(data) as SessionEvent) : undefined;
}

export interface EventStreamState {
  events: SessionEvent[];
  connected: boolean;
  reconnects: number;
  error: string | null;
}

export function useSessionEvents(sessionId: string): EventStreamState {
  const [state, setState] = useState<EventStreamState>({ events: [], connected: false, reconnects: 0, error: null });
  useEffect(() => {
    const abort = new AbortController();
    let last = 0;
    let ended = false;
    const seen = new Set<number>();
    const pending: SessionEvent[] = [];
    let flush: number | undefined;
    // Events that arrive together render together (a 200-step history is one update, not 200).
    const push = (e: SessionEvent) => {
      pending.push(e);
      flush ??= window.setTimeout(() => {
        flush = undefined;
        const batch = pending.splice(0);
        setState((s) => ({ ...s, events: [...s.events, ...batch] }));
      }, 16);
    };
    async function run() {
      let attempt = 0;
      while (!ended && !abort.signal.aborted) {
        try {
          const res = await fetch(`/v1/sessions/${sessionId}/events`, {
            headers: { ...authHeaders(), accept: 'text/event-stream', ...(last > 0 ? { 'last-event-id': String(last) } : {}) },
            signal: abort.signal,
          });
          if (!res.ok || !res.body) throw new Error(`the event stream answered ${res.status}`);
          setState((s) => ({ ...s, connected: true, error: null }));
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let cut: number;
            while ((cut = buffer.indexOf('\n\n')) >= 0) {
              const event = parseSseBlock(buffer.slice(0, cut));
              buffer = buffer.slice(cut + 2);
              if (!event || seen.has(event.seq)) continue;
              seen.add(event.seq);
              last = Math.max(last, event.seq);
              push(event);
              if (event.type === TERMINAL_EVENT) ended = true;
            }
          }
          attempt = 0;
        } catch (err) {
          if (abort.signal.aborted) return;
          setState((s) => ({ ...s, error: (err as Error).message }));
          attempt++;
        }
        if (ended || abort.signal.aborted) break;
        setState((s) => ({ ...s, connected: false, reconnects: s.reconnects + 1 }));
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
      }
      setState((s) => ({ ...s, connected: false }));
    }
    void run();
    return () => {
      abort.abort();
      if (flush !== undefined) window.clearTimeout(flush);
    };
  }, [sessionId]);
  return state;
}

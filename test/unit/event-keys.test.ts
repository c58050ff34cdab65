/**
 * The one scheme of event keys (domain/events.ts): it makes the strings stored since the first release
 * (a retry across a deploy must find its first attempt's event), and it takes in every key the workflow
 * sent in the recorded histories, which recordEvents and appendUserMessages check before writing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { EVENT_KEY_SOURCES, ONCE_EVENT_KEYS, eventKey, isEventKey } from '../../domain/events.js';

interface ScheduledActivity {
  readonly activityType?: { readonly name?: string };
  readonly input?: { readonly payloads?: readonly { readonly data?: string; readonly metadata?: { readonly encoding?: string } }[] };
}
const decode = (base64: string) => Buffer.from(base64, 'base64').toString('utf8');
const PLAIN_JSON = Buffer.from('json/plain').toString('base64');

describe('event keys', () => {
  it('are the strings stored before the scheme was written down', () => {
    expect(eventKey(EVENT_KEY_SOURCES.workflow, 7)).toBe('wf:7');
    expect(eventKey(EVENT_KEY_SOURCES.message, 1)).toBe('message:1');
    expect(eventKey(EVENT_KEY_SOURCES.llm, 2)).toBe('llm:2');
    expect(eventKey(EVENT_KEY_SOURCES.toolStarted, 3)).toBe('tool-started:3');
    expect(eventKey(EVENT_KEY_SOURCES.toolResult, 3)).toBe('tool-result:3');
    expect(eventKey(EVENT_KEY_SOURCES.sandboxClaimed, 'abc123')).toBe('sandbox-claimed:abc123');
    expect(eventKey(EVENT_KEY_SOURCES.browserScreenshot, 4)).toBe('browser-screenshot:4');
    expect(ONCE_EVENT_KEYS).toEqual({ started: 'session.started', ended: 'session.ended' });
  });

  it('takes in keys of the scheme only', () => {
    for (const key of ['wf:0', 'message:12', 'tool-result:3', 'session.started', 'session.ended']) expect(isEventKey(key), key).toBe(true);
    for (const key of ['', 'wf', 'wf:', ':1', 'e1', 'vote-1', 'session.paused', 'nope:1']) expect(isEventKey(key), key).toBe(false);
  });

  it('takes in every key the workflow sent in a recorded history', () => {
    const keys: string[] = [];
    const collect = (value: unknown, parent: string | undefined): void => {
      if (Array.isArray(value)) for (const v of value) collect(v, parent);
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) collect(v, k);
      else if (typeof value === 'string' && (parent === 'key' || parent === 'eventKey')) keys.push(value);
    };
    const dir = join(REPO_ROOT, 'test/histories');
    for (const sub of readdirSync(dir)) {
      for (const file of readdirSync(join(dir, sub)).filter((f) => f.endsWith('.json') && !f.startsWith('agent-promotion'))) {
        const history = JSON.parse(readFileSync(join(dir, sub, file), 'utf8')) as { events?: unknown[] };
        for (const event of history.events ?? []) {
          const attrs = (event as { activityTaskScheduledEventAttributes?: ScheduledActivity }).activityTaskScheduledEventAttributes;
          if (!attrs || !['recordEvents', 'appendUserMessages'].includes(attrs.activityType?.name ?? '')) continue;
          // Encrypted payloads (browser-walk, the encrypted/ set) are ciphertext here; the plain ones are most.
          for (const p of attrs.input?.payloads ?? []) if (p.data && p.metadata?.encoding === PLAIN_JSON) collect(JSON.parse(decode(p.data)), undefined);
        }
      }
    }
    expect(keys.length).toBeGreaterThan(50);
    expect(keys.filter((k) => !isEventKey(k))).toEqual([]);
  });
});

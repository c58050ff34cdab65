/**
 * The key of a request for the answer cache and for merging identical
 * requests in flight: sha256 of its normalised form (model, messages, tools,
 * parameters). Normalised: line endings and trailing blanks of texts, tool
 * call ids (renumbered in order of appearance: every session names them
 * differently), object key order, and the order of tools.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonical-json.js';
import type { ChatMessage } from './types.js';

export interface KeyedRequest {
  /** The policy's model key and the provider's model id. */
  readonly model: string;
  readonly providerModel: string;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly unknown[] | undefined;
  readonly temperature?: number | undefined;
  readonly maxOutputTokens?: number | undefined;
  /** Only when the provider receives it (the mock LLM's scenarios): it changes the answer. */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

function text(s: string | null): string | null {
  if (s === null) return null;
  // Most texts have nothing to normalise: test before rewriting.
  return /\r|\s$|[ \t]\n/.test(s) ? s.replace(/\r\n?/g, '\n').replace(/[ \t]+$/gm, '').trimEnd() : s;
}

/** Tool definitions are the same objects call after call: their canonical text is remembered. */
const toolTexts = new WeakMap<object, string>();

function toolText(tool: unknown): string {
  if (tool === null || typeof tool !== 'object') return canonicalJson(tool);
  let known = toolTexts.get(tool);
  if (known === undefined) toolTexts.set(tool, (known = canonicalJson(tool)));
  return known;
}

/** The hex sha256 key of a request; messages are hashed one by one, in a fixed field order. */
export function requestKey(request: KeyedRequest): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(['v1', request.model, request.providerModel, request.temperature ?? null, request.maxOutputTokens ?? null]));
  const ids = new Map<string, string>();
  const idOf = (id: string) => {
    let n = ids.get(id);
    if (n === undefined) ids.set(id, (n = `t${ids.size}`));
    return n;
  };
  // Each field is written with its length first, so no two requests hash the same text.
  const field = (value: string | null) => {
    if (value === null) return hash.update('-;');
    hash.update(`${value.length};`);
    hash.update(value);
  };
  for (const m of request.messages) {
    field(m.role);
    field(text(m.content));
    if (m.role === 'assistant') {
      for (const c of m.tool_calls ?? []) {
        field(idOf(c.id));
        field(c.function.name);
        field(c.function.arguments);
      }
      field('end');
    } else if (m.role === 'tool') {
      field(idOf(m.tool_call_id));
    }
  }
  const tools = (request.tools ?? []).map(toolText).sort();
  hash.update(`\ntools:${tools.join(',')}\nmetadata:${canonicalJson(request.metadata ?? null)}`);
  return hash.digest('hex');
}

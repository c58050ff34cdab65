/**
 * How the semantic cache splits a request in two:
 *
 * - the TEXT compared by meaning: the content of the last user message, and
 *   nothing else;
 * - the SCOPE compared exactly (sha256): every other part of the request as
 *   the exact cache keys it (router/cache-key.ts: model, parameters, tools,
 *   the system prompt, earlier turns, every tool call and every tool result,
 *   with call ids renumbered), the route, the embedding model, and the
 *   text's literals (below).
 *
 * So two requests can only share an answer when everything but the wording
 * of the last user message is identical: a different tool result, a
 * different earlier turn or another tool set is another scope and a miss,
 * whatever the similarity. The tenant is not in the scope because every
 * store is keyed by tenant first and never reads across tenants.
 *
 * Literals: embeddings are poor at numbers, names, paths and negation
 * ("delete line 12" and "delete line 21" embed almost alike), so the
 * numbers, quoted strings, identifier- or path-like tokens, capitalised
 * words inside a sentence and the count of negations of the text are part
 * of the exact scope: changing any of them can never hit.
 */
import { createHash } from 'node:crypto';
import { requestKey, type KeyedRequest } from './cache-key.js';
import type { ChatMessage } from './types.js';

/** Where the compared text was in the request (the scope has a placeholder there). */
const SLOT: ChatMessage = { role: 'user', content: '\u0000semantic-slot' };

const NEGATIONS = new Set(['not', 'no', 'never', 'none', 'nothing', 'nobody', 'neither', 'nor', 'without', 'cannot', 'dont', 'doesnt', 'didnt', 'wont', 'isnt', 'arent', 'shouldnt', 'mustnt', 'cant', 'except']);

export interface SemanticSplit {
  /** sha256 hex of everything compared exactly. */
  readonly scope: string;
  /** The text compared by meaning: the last user message, trimmed. */
  readonly text: string;
  /** sha256 hex of the text with its whitespace collapsed: one stored answer per text and scope. */
  readonly textHash: string;
}

/** The literals of a text that must match exactly, sorted (see the file comment). */
export function literalsOf(text: string): string[] {
  const t = text.normalize('NFKC');
  const out: string[] = [];
  for (const m of t.matchAll(/"([^"]*)"|`([^`]*)`|“([^”]*)”/gu)) out.push(`q:${(m[1] ?? m[2] ?? m[3] ?? '').trim()}`);
  let sentenceStart = true;
  let negations = 0;
  // A text in capitals says nothing by its capitals.
  const shouting = !/\p{Ll}/u.test(t);
  for (const chunk of t.split(/\s+/u)) {
    // The chunk without the punctuation around it ("(src/app.ts)," → src/app.ts).
    const token = chunk.replace(/^[^\p{L}\p{N}_~./\\]+|[^\p{L}\p{N}_~/\\]+$/gu, '');
    if (token !== '') {
      // Numbers, versions, paths, file names, identifiers: a digit, or . / \ _ : inside.
      if (/\p{N}/u.test(token) || /[\p{L}\p{N}][./\\_:][\p{L}\p{N}]|^[./~]/u.test(token)) out.push(`t:${token}`);
      // A capitalised word inside a sentence: a name ("send it to Alice").
      else if (!sentenceStart && !shouting && /^\p{Lu}[\p{L}\p{N}]/u.test(token)) out.push(`n:${token}`);
      const word = token.toLowerCase().replace(/['’]/g, '');
      if (NEGATIONS.has(word)) negations++;
      sentenceStart = /[.!?:;]$/.test(chunk);
    }
  }
  out.push(`neg:${negations}`);
  return out.sort();
}

/** The index of the last user message, or -1. */
function lastUserIndex(messages: readonly ChatMessage[]): number {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'user') return i;
  return -1;
}

/**
 * Splits a request for the semantic cache; undefined when it has no user
 * message with text, or when that text is longer than `maxTextChars`.
 */
export function semanticSplit(
  request: KeyedRequest,
  extra: { readonly route: string; readonly embeddingModel: string; readonly maxTextChars: number },
): SemanticSplit | undefined {
  const slot = lastUserIndex(request.messages);
  if (slot < 0) return undefined;
  const text = (request.messages[slot]?.content ?? '').trim();
  if (text === '' || text.length > extra.maxTextChars) return undefined;
  const exact = requestKey({ ...request, messages: request.messages.map((m, i) => (i === slot ? SLOT : m)) });
  const scope = createHash('sha256')
    .update(JSON.stringify(['sem-v1', extra.route, extra.embeddingModel, slot, exact, literalsOf(text)]))
    .digest('hex');
  const textHash = createHash('sha256').update(text.replace(/\s+/g, ' ')).digest('hex');
  return { scope, text, textHash };
}

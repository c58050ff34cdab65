/**
 * A request's complexity tier when the caller gives none: a deterministic,
 * conservative heuristic over the last user message, the prompt's size and
 * the presence of tools. When in doubt it goes up a tier, never down: a
 * request sent below its tier costs a bad answer, one above it a few cents.
 */
import type { Tier } from './model-policy.js';
import type { ChatMessage } from './types.js';

const LARGE =
  /\b(prove|proof|theorem|architect\w*|trade-?offs?|threat[- ]model\w*|security (review|audit)|root[- ]cause|distributed|concurrency|race condition|formal(ly)?|legal|liabilit\w+|strateg\w+|multi-step plan|in-depth|comprehensive|rigorous\w*|research)\b/i;
const MEDIUM =
  /\b(explain\w*|compare|contrast|summari[sz]\w+|write|rewrite|implement\w*|function|refactor\w*|debug\w*|code|script|translate|analy[sz]\w+|why|how (does|do|can|should)|sql|regex|essay|email|draft|review|plan)\b/i;

/** Above these many prompt tokens a request is at least medium / large. */
const MEDIUM_TOKENS = 3_000;
const LARGE_TOKENS = 24_000;
/** A code block this long with a debugging request is large. */
const LONG_CODE_LINES = 60;

function lastUserText(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user') return m.content;
  }
  return '';
}

function codeLines(text: string): number {
  let lines = 0;
  for (const block of text.matchAll(/```[^\n]*\n([\s\S]*?)```/g)) lines += (block[1] ?? '').split('\n').length;
  return lines;
}

/** The estimated tier of a request. */
export function estimateTier(input: { messages: readonly ChatMessage[]; promptTokens: number; hasTools: boolean }): Tier {
  const text = lastUserText(input.messages);
  if (input.promptTokens > LARGE_TOKENS || LARGE.test(text)) return 'large';
  const code = codeLines(text);
  if (code >= LONG_CODE_LINES && /\b(bug|debug|fix|fails?|crash\w*|wrong)\b/i.test(text)) return 'large';
  if (input.hasTools || code > 0 || input.promptTokens > MEDIUM_TOKENS || MEDIUM.test(text)) return 'medium';
  return 'small';
}

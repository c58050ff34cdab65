/**
 * Offline token estimates with a real BPE tokenizer (o200k_base, gpt-tokenizer),
 * for routing and context-window checks only: what is billed is the usage the
 * provider reports. Text that looks like a special token (`<|endoftext|>`) is
 * counted as plain text, never rejected.
 */
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { ChatMessage } from './types.js';

/** No special tokens: their text is ordinary prompt text. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };
/** Tokens of a message's framing (role, separators), as OpenAI counts them. */
const PER_MESSAGE = 3;
/** Tokens that prime the answer. */
const PER_REQUEST = 3;

const MEMO_LIMIT = 4096;
const memo = new Map<string, number>();

/** Tokens of a text. Transcripts are re-sent every step, so counts of longer texts are remembered. */
export function countTextTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length < 64) return countTokens(text, AS_TEXT);
  const known = memo.get(text);
  if (known !== undefined) return known;
  const n = countTokens(text, AS_TEXT);
  if (memo.size >= MEMO_LIMIT) memo.delete(memo.keys().next().value as string);
  memo.set(text, n);
  return n;
}

/** Tokens of one message: framing, content and tool calls. */
export function messageTokens(message: ChatMessage): number {
  let n = PER_MESSAGE + countTextTokens(message.content ?? '');
  if (message.role === 'assistant') {
    for (const call of message.tool_calls ?? []) n += PER_MESSAGE + countTextTokens(call.function.name) + countTextTokens(call.function.arguments);
  }
  return n;
}

/** Tokens of tool definitions (their JSON, as providers render them into the prompt). */
export function toolsTokens(tools: readonly unknown[] | undefined): number {
  return tools && tools.length > 0 ? countTextTokens(JSON.stringify(tools)) : 0;
}

/** Estimated prompt tokens of a request. */
export function estimatePromptTokens(messages: readonly ChatMessage[], tools?: readonly unknown[]): number {
  let n = PER_REQUEST + toolsTokens(tools);
  for (const m of messages) n += messageTokens(m);
  return n;
}

/**
 * The context-window guard's transcript surgery. A request that would not fit
 * its model is never sent: the router first looks for a larger model the
 * policy allows, then trims (oldest tool outputs, then oldest whole turns) or
 * summarises (oldest whole turns, replaced by one summary message). The system
 * prompt, the last user message and the most recent messages are kept, and an
 * assistant tool call never loses its tool results (or the reverse).
 */
import type { ModelConfig } from './model-policy.js';
import { estimatePromptTokens, messageTokens } from './tokens.js';
import type { ChatMessage } from './types.js';

/** Prompt tokens a model can take, after its answer's room and the estimate's margin. */
export function promptLimit(model: ModelConfig, margin: number): number {
  return Math.floor((model.contextWindow - model.maxOutputTokens) / margin);
}

/** True when an estimated prompt fits the model with room for its answer. */
export function fits(model: ModelConfig, promptTokens: number, margin: number): boolean {
  return promptTokens <= promptLimit(model, margin);
}

/** What trimming or summarising changed. */
export interface TranscriptCut {
  readonly messages: ChatMessage[];
  readonly promptTokens: number;
  readonly toolOutputsTrimmed: number;
  readonly messagesRemoved: number;
}

/** Indices [start, end) of the messages that may be cut, grouped so that tool calls keep their results. */
function cuttableGroups(messages: readonly ChatMessage[], keepRecent: number): number[][] {
  let start = 0;
  while (messages[start]?.role === 'system') start++;
  let end = Math.max(start, messages.length - keepRecent);
  // The kept tail may not begin with tool results whose call would be cut.
  while (end > start && messages[end]?.role === 'tool') end--;
  const lastUser = messages.findLastIndex((m) => m.role === 'user');
  const groups: number[][] = [];
  for (let i = start; i < end; ) {
    const group = [i];
    if (messages[i]?.role === 'assistant') {
      while (i + 1 < end && messages[i + 1]?.role === 'tool') group.push(++i);
    }
    i++;
    if (!group.includes(lastUser)) groups.push(group);
  }
  return groups;
}

const TRIMMED = (tokens: number) => `[tool output trimmed to fit the context window: ${tokens} tokens]`;

/**
 * Trims until the prompt is at most `limit` tokens: first the oldest tool
 * outputs (replaced by a note), then the oldest whole turns. Undefined when
 * even the kept messages are over the limit.
 */
export function trimTranscript(messages: readonly ChatMessage[], tools: readonly unknown[] | undefined, limit: number, keepRecent: number): TranscriptCut | undefined {
  const out: (ChatMessage | undefined)[] = [...messages];
  let total = estimatePromptTokens(messages, tools);
  let toolOutputsTrimmed = 0;
  let messagesRemoved = 0;
  const groups = cuttableGroups(messages, keepRecent);
  for (const index of groups.flat()) {
    if (total <= limit) break;
    const m = out[index];
    if (m?.role !== 'tool') continue;
    const before = messageTokens(m);
    const note: ChatMessage = { role: 'tool', tool_call_id: m.tool_call_id, content: TRIMMED(before) };
    const after = messageTokens(note);
    if (after >= before) continue;
    out[index] = note;
    total -= before - after;
    toolOutputsTrimmed++;
  }
  for (const group of groups) {
    if (total <= limit) break;
    for (const index of group) {
      total -= messageTokens(out[index] as ChatMessage);
      out[index] = undefined;
      messagesRemoved++;
    }
  }
  if (total > limit) return undefined;
  return { messages: out.filter((m): m is ChatMessage => m !== undefined), promptTokens: total, toolOutputsTrimmed, messagesRemoved };
}

/** The oldest whole turns to summarise so that the rest plus `summaryRoom` tokens fit `limit`. */
export function planSummary(
  messages: readonly ChatMessage[],
  tools: readonly unknown[] | undefined,
  limit: number,
  keepRecent: number,
  summaryRoom: number,
): { removed: ChatMessage[]; kept: ChatMessage[]; insertAt: number } | undefined {
  let total = estimatePromptTokens(messages, tools) + summaryRoom;
  const removedIdx = new Set<number>();
  for (const group of cuttableGroups(messages, keepRecent)) {
    if (total <= limit) break;
    for (const index of group) {
      total -= messageTokens(messages[index] as ChatMessage);
      removedIdx.add(index);
    }
  }
  if (total > limit || removedIdx.size === 0) return undefined;
  let insertAt = 0;
  while (messages[insertAt]?.role === 'system') insertAt++;
  return {
    removed: messages.filter((_, i) => removedIdx.has(i)),
    kept: messages.filter((_, i) => !removedIdx.has(i)),
    insertAt,
  };
}

/** The prompt that asks a model to summarise removed messages. */
export function summaryPrompt(removed: readonly ChatMessage[]): ChatMessage[] {
  const text = removed
    .map((m) => {
      if (m.role === 'assistant') {
        const calls = (m.tool_calls ?? []).map((c) => `${c.function.name}(${c.function.arguments})`).join('; ');
        return `assistant: ${m.content ?? ''}${calls ? ` [called ${calls}]` : ''}`;
      }
      return `${m.role}: ${m.content}`;
    })
    .join('\n');
  return [
    {
      role: 'system',
      content:
        'Summarise the conversation below for an agent that continues it. Keep facts, decisions, file names, commands and their results; drop pleasantries. Answer with the summary only.',
    },
    { role: 'user', content: text },
  ];
}

/** The message that stands for summarised turns. */
export function summaryMessage(summary: string, count: number): ChatMessage {
  return { role: 'system', content: `Summary of ${count} earlier messages (removed to fit the context window):\n${summary}` };
}

/** The mock LLM's wire formats: a `chat.completion` body, or the `chat.completion.chunk` payloads of an SSE stream. */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Answer } from './play.js';

/** The id, creation time and model a response carries. */
export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
}

/** The `chat.completion` JSON body of a non-streamed answer. */
export function completionBody(answer: Answer, meta: ResponseMeta): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: answer.content, refusal: null };
  if (answer.toolCalls.length > 0) {
    message.tool_calls = answer.toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: answer.finishReason }],
    usage: answer.usage,
  };
}

/** Splits by code points into at most `parts` non-empty pieces. */
function splitText(text: string, parts: number): string[] {
  const chars = Array.from(text);
  const size = Math.max(1, Math.ceil(chars.length / parts));
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces;
}

/** The `chat.completion.chunk` payloads OpenAI would stream for `answer`, before `[DONE]`. */
export function streamChunks(answer: Answer, meta: ResponseMeta, includeUsage: boolean): Record<string, unknown>[] {
  const base = { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model };
  // With include_usage OpenAI sends `usage: null` on every chunk but the last.
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): Record<string, unknown> => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const chunks = [chunk({ role: 'assistant', content: '' })];
  for (const piece of splitText(answer.content ?? '', 3)) chunks.push(chunk({ content: piece }));
  answer.toolCalls.forEach((call, index) => {
    const opening = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
    chunks.push(chunk({ tool_calls: [opening] }));
    for (const piece of splitText(call.arguments, 3)) {
      chunks.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  chunks.push(chunk({}, answer.finishReason));
  if (includeUsage) chunks.push({ ...base, choices: [], usage: answer.usage });
  return chunks;
}

/** Sends the chunks as server-sent events, then `[DONE]`. */
export function sendStream(c: Context, chunks: readonly Record<string, unknown>[]): Response {
  return streamSSE(c, async (stream) => {
    for (const payload of chunks) await stream.writeSSE({ data: JSON.stringify(payload) });
    await stream.writeSSE({ data: '[DONE]' });
  });
}

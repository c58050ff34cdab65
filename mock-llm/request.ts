/**
 * The mock LLM's request side: the zod schema of a chat completion body and
 * OpenAI's error shape (MockApiError, a 400 naming the bad parameter).
 */
import type { Context } from 'hono';
import { z } from 'zod';

const textPartSchema = z.object({ type: z.literal('text'), text: z.string() });

const messageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(textPartSchema)]).nullish(),
  tool_calls: z
    .array(
      z.object({
        id: z.string(),
        type: z.literal('function'),
        function: z.object({ name: z.string(), arguments: z.string() }),
      }),
    )
    .nullish(),
  tool_call_id: z.string().nullish(),
});

/** A chat completion request body, as far as the mock reads it; `metadata.repeat` must be a positive integer. */
export const requestSchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(messageSchema).min(1),
    tools: z.array(z.record(z.string(), z.unknown())).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
  })
  .superRefine((body, ctx) => {
    const repeat = body.metadata?.repeat;
    if (repeat !== undefined && !/^[1-9][0-9]{0,5}$/.test(repeat)) {
      ctx.addIssue({ code: 'custom', path: ['metadata', 'repeat'], message: 'must be a positive integer, as a string' });
    }
  });

/** A validated chat completion request. */
export type ChatRequest = z.infer<typeof requestSchema>;
/** One message of a chat completion request. */
export type ChatMessage = ChatRequest['messages'][number];

// ---------------------------------------------------------------------------
// Errors: one class, one response shape (OpenAI's)

/** An error answered with OpenAI's error JSON `{ error: { message, type, param, code } }`. */
export class MockApiError extends Error {
  override readonly name = 'MockApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  /** The JSON body OpenAI sends for this error. */
  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** `messages[0].content` style, as OpenAI names parameters. */
function paramPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

/** The value at `path` inside `root`, or undefined where the path leaves objects. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Validates a body; the first problem becomes a 400 naming the parameter. */
export function parseRequest(raw: unknown): ChatRequest {
  const result = requestSchema.safeParse(raw);
  if (result.success) return result.data;
  throw invalidBody(raw, result.error);
}

/** The first problem of a body, as OpenAI reports it: a 400 naming the parameter. */
export function invalidBody(raw: unknown, error: z.ZodError): MockApiError {
  const issue = error.issues[0];
  const path = issue?.path ?? [];
  const param = paramPath(path);
  const message =
    path.length > 0 && valueAt(raw, path) === undefined
      ? `Missing required parameter: '${param}'.`
      : `Invalid value for '${param || 'body'}': ${issue?.message ?? 'invalid request'}`;
  return new MockApiError(400, message, 'invalid_request_error', param || null);
}

/** The request's body parsed as JSON; unparseable text is a 400. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new MockApiError(400, 'We could not parse the JSON body of your request: expected a JSON object.');
  }
}

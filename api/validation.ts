/** zod at the trust boundary: bodies, queries and path parameters. */
import type { Context } from 'hono';
import { z } from 'zod';
import { textProblem } from '../db/storable.js';
import { ApiError, validationError } from './errors.js';

/**
 * A string that can be stored as sent: NUL characters and unpaired UTF-16
 * surrogates are refused at their field's path. What users send is refused
 * rather than silently altered (db/storable.ts alters what models and tools bring).
 */
export function text(): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    const problem = textProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** The JSON body, validated; a body that is not JSON is a 400 `invalid_json`. */
export async function parseBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', 'the request body is not valid JSON');
  }
  const result = schema.safeParse(json);
  if (!result.success) throw validationError('body', result.error);
  return result.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationError('query', result.error);
  return result.data;
}

export function parseParams<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const result = schema.safeParse(c.req.param());
  if (!result.success) throw validationError('params', result.error);
  return result.data;
}

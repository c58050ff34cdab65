/**
 * The API's one error path: every failure becomes
 * `{ "error": { "code", "message", "fields"? } }` with a fitting status.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

export interface FieldProblem {
  readonly path: string;
  readonly message: string;
  /** For a field holding YAML: the 1-based line of the fault in it. */
  readonly line?: number;
}

/** An error meant for the caller: status, machine-readable code, message. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly fields?: readonly FieldProblem[],
    /** Sent with the error (`Retry-After` of a 429). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

/** A 400 listing each invalid field by its path (`limits.maxSteps`, `metadata.team`). */
export function validationError(where: 'body' | 'query' | 'params' | 'header', error: z.ZodError): ApiError {
  const fields = error.issues.flatMap((issue) =>
    // An unknown key is reported at its own path, like any other bad field.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [where, ...issue.path.map(String), key].join('.'), message: 'unknown field' }))
      : [{ path: [where, ...issue.path.map(String)].join('.'), message: issue.message }],
  );
  return new ApiError(400, 'validation_failed', `invalid ${where}: ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`, fields);
}

export function errorBody(code: string, message: string, fields?: readonly FieldProblem[]) {
  return { error: { code, message, ...(fields && fields.length > 0 ? { fields } : {}) } };
}

/** pg-pool's error when no connection of the pool freed up within its connect timeout (db/client.ts). */
const POOL_EXHAUSTED = 'timeout exceeded when trying to connect';
/** How long a caller is told to wait when the database's pool is exhausted: a burst passes in about that. */
const RETRY_WHEN_POOL_EXHAUSTED_SECONDS = 1;

/**
 * Hono's onError: known errors keep their status; a request that found every database connection busy for the
 * pool's whole connect timeout is a 503 with Retry-After (the API is overloaded, nothing is wrong with the request);
 * anything else is a 500 that names no internals.
 */
export function onApiError(logError: (err: unknown, c: Context) => void) {
  return (err: Error, c: Context) => {
    if (err instanceof ApiError) return c.json(errorBody(err.code, err.message, err.fields), err.status, err.headers ? { ...err.headers } : undefined);
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      const code = status === 413 ? 'body_too_large' : status === 401 ? 'unauthorized' : 'http_error';
      return c.json(errorBody(code, err.message || 'request refused'), status);
    }
    logError(err, c);
    if (err.message === POOL_EXHAUSTED) {
      return c.json(errorBody('database_busy', 'every database connection is busy; retry shortly'), 503, {
        'retry-after': String(RETRY_WHEN_POOL_EXHAUSTED_SECONDS),
      });
    }
    return c.json(errorBody('internal', 'internal error; see the server log'), 500);
  };
}

/**
 * Errors that no retry can heal become non-retryable Temporal failures, so the
 * session fails at once saying why instead of retrying the same write until
 * its budget runs out: a Postgres data, constraint or syntax error (db/errors.ts),
 * a validation error (zod), a session row that does not exist.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ZodError } from 'zod';
import { permanentDbError } from '../db/errors.js';
import { SessionNotFoundError } from '../db/session-records.js';

/** The failure type of a permanent database error (the session's error names it). */
export const DB_PERMANENT = 'DbPermanentError';
/** The failure type of input that does not validate. */
export const VALIDATION_FAILED = 'ValidationFailed';

/** `err` as a non-retryable ApplicationFailure when it cannot heal; `err` itself otherwise. */
export function failFast(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const db = permanentDbError(err);
  if (db) {
    return ApplicationFailure.create({
      type: DB_PERMANENT,
      message: `database refused the write (SQLSTATE ${db.sqlState}, ${db.className}): ${(err as Error).message}`,
      nonRetryable: true,
      details: [{ sqlState: db.sqlState }],
    });
  }
  if (err instanceof ZodError) {
    const issues = err.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
    return ApplicationFailure.create({ type: VALIDATION_FAILED, message: `invalid input: ${issues}`, nonRetryable: true });
  }
  if (err instanceof SessionNotFoundError) return ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
  return err;
}

type AsyncFunctions = Record<string, (...args: never[]) => Promise<unknown>>;

/** The same activities, each throwing `failFast(err)` instead of `err`. */
export function withFailFast<T extends AsyncFunctions>(activities: T): T {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw failFast(err);
      }
    };
  }
  return wrapped as T;
}

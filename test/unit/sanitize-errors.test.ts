/** Errors no retry can heal (db/errors.ts, activities/permanent-errors.ts) become non-retryable failures; the rest pass as they are. */
import { ApplicationFailure } from '@temporalio/activity';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DB_PERMANENT, failFast, VALIDATION_FAILED, withFailFast } from '../../activities/permanent-errors.js';
import { permanentDbError } from '../../db/errors.js';
import { SessionNotFoundError } from '../../db/session-records.js';

/** An error as pg raises it for a server's ErrorResponse. */
function pgError(code: string, message: string): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  err.code = code;
  return err;
}

describe('permanentDbError', () => {
  it('classifies SQLSTATE classes 22, 23 and 42 as permanent and the others as retryable', () => {
    expect(permanentDbError(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'))).toEqual({ sqlState: '22021', className: 'data exception' });
    expect(permanentDbError(pgError('22P02', 'invalid input syntax for type json'))).toEqual({ sqlState: '22P02', className: 'data exception' });
    expect(permanentDbError(pgError('23505', 'duplicate key value violates unique constraint'))?.className).toBe('integrity constraint violation');
    expect(permanentDbError(pgError('42703', 'column "x" does not exist'))?.className).toBe('syntax error or access rule violation');
    for (const code of ['08006', '40001', '40P01', '53300', '57P01', '57014', 'XX000']) expect(permanentDbError(pgError(code, 'transient'))).toBeUndefined();
    expect(permanentDbError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(permanentDbError('22021')).toBeUndefined();
  });
});

describe('failFast', () => {
  it('turns a permanent database error into a non-retryable failure that says why', () => {
    const failure = failFast(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    const f = failure as ApplicationFailure;
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe(DB_PERMANENT);
    expect(f.message).toContain('SQLSTATE 22021');
    expect(f.message).toContain('invalid byte sequence');
  });

  it('turns zod errors and a missing session row into non-retryable failures', () => {
    const zod = z.object({ n: z.number() }).safeParse({ n: 'x' });
    const fromZod = failFast(zod.error) as ApplicationFailure;
    expect(fromZod.nonRetryable).toBe(true);
    expect(fromZod.type).toBe(VALIDATION_FAILED);
    expect(fromZod.message).toMatch(/^invalid input: n: /);
    const missing = failFast(new SessionNotFoundError('session ses_x of tenant t does not exist')) as ApplicationFailure;
    expect(missing.nonRetryable).toBe(true);
  });

  it('leaves retryable errors and existing failures as they are', () => {
    const transient = pgError('40001', 'could not serialize access');
    expect(failFast(transient)).toBe(transient);
    const plain = new Error('socket hang up');
    expect(failFast(plain)).toBe(plain);
    const own = ApplicationFailure.create({ type: 'LlmError.rate_limit', message: 'slow down' });
    expect(failFast(own)).toBe(own);
  });

  it('wraps every activity of a set, keeping results and arguments', async () => {
    const wrapped = withFailFast({
      ok: async (n: number) => n + 1,
      refused: async () => {
        throw pgError('23514', 'new row violates check constraint');
      },
    });
    await expect(wrapped.ok(1)).resolves.toBe(2);
    await expect(wrapped.refused()).rejects.toMatchObject({ nonRetryable: true, type: DB_PERMANENT });
  });
});

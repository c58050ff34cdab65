/**
 * Which database errors a retry cannot heal. Postgres names every error with
 * a SQLSTATE whose first two characters are its class; the classes below come
 * from the statement or its data (a NUL byte, a broken JSON text, a violated
 * constraint, a missing column), so the same statement fails again on every
 * attempt. Lost connections (08), serialization failures and deadlocks (40),
 * shutdowns (57) and resource shortages (53) are worth retrying.
 */

/** The SQLSTATE classes that fail the same way on every attempt. */
export const PERMANENT_SQLSTATE_CLASSES: Readonly<Record<string, string>> = {
  '22': 'data exception',
  '23': 'integrity constraint violation',
  '42': 'syntax error or access rule violation',
};

/** A permanent Postgres error: its SQLSTATE and the name of its class. */
export interface PermanentDbError {
  readonly sqlState: string;
  readonly className: string;
}

/** The SQLSTATE of a pg error (pg's DatabaseError carries it as `code`), or undefined. */
export function sqlStateOf(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The error as a permanent database error, or undefined when retrying may help (or it is not a database error). */
export function permanentDbError(err: unknown): PermanentDbError | undefined {
  const sqlState = sqlStateOf(err);
  const className = sqlState === undefined ? undefined : PERMANENT_SQLSTATE_CLASSES[sqlState.slice(0, 2)];
  return sqlState !== undefined && className !== undefined ? { sqlState, className } : undefined;
}

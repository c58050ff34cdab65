/**
 * Retention classes: how long a tenant's data stays hot in Postgres, how long
 * its cold copy is kept in the object store, and when its artifacts expire.
 * A tenant names one class (tenant_retention, db/retention.ts); tenants without
 * a row get RETENTION_DEFAULT_CLASS. RETENTION_CLASSES (JSON) adds classes or
 * replaces built-in ones, e.g. `{"audit":{"sessionsHotMonths":6,"sessionsColdMonths":null,...}}`.
 */
import { z } from 'zod';

const months = z.number().int().min(1).max(1200);

export const retentionClassSchema = z
  .object({
    /** Months of session events and messages kept in Postgres, the current month included. */
    sessionsHotMonths: months,
    /** Months (from the month's start) after which the cold copy is deleted; null keeps it forever. */
    sessionsColdMonths: months.nullable(),
    /** Months of the cost ledger (llm_calls) kept in Postgres. */
    ledgerHotMonths: months,
    ledgerColdMonths: months.nullable(),
    /** Days an artifact lives after it was written; null: until the tenant deletes it. */
    artifactDays: z.number().int().min(1).max(36_500).nullable(),
  })
  .strict()
  .refine((c) => c.sessionsColdMonths === null || c.sessionsColdMonths >= c.sessionsHotMonths, {
    message: 'sessionsColdMonths must be at least sessionsHotMonths',
    path: ['sessionsColdMonths'],
  })
  .refine((c) => c.ledgerColdMonths === null || c.ledgerColdMonths >= c.ledgerHotMonths, {
    message: 'ledgerColdMonths must be at least ledgerHotMonths',
    path: ['ledgerColdMonths'],
  });

export type RetentionClass = z.infer<typeof retentionClassSchema>;

export const CLASS_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export const BUILTIN_RETENTION_CLASSES: Readonly<Record<string, RetentionClass>> = Object.freeze({
  short: { sessionsHotMonths: 1, sessionsColdMonths: 6, ledgerHotMonths: 3, ledgerColdMonths: 24, artifactDays: 30 },
  standard: { sessionsHotMonths: 3, sessionsColdMonths: 24, ledgerHotMonths: 12, ledgerColdMonths: 84, artifactDays: 90 },
  long: { sessionsHotMonths: 12, sessionsColdMonths: null, ledgerHotMonths: 24, ledgerColdMonths: null, artifactDays: 365 },
});

/** RETENTION_CLASSES: a JSON object of class name → class, merged over the built-in ones. */
export const retentionClassesSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return { ...BUILTIN_RETENTION_CLASSES };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not JSON: ${(err as Error).message}` });
      return z.NEVER;
    }
    const parsed = z.record(z.string().regex(CLASS_NAME, 'a class name: lowercase letters, digits, - and _'), retentionClassSchema).safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: `${issue.path.join('.')}: ${issue.message}` });
      return z.NEVER;
    }
    return { ...BUILTIN_RETENTION_CLASSES, ...parsed.data };
  });

export type RetentionClasses = Readonly<Record<string, RetentionClass>>;

/** What the retention code needs from the configuration. */
export interface RetentionConfig {
  readonly RETENTION_CLASSES: RetentionClasses;
  readonly RETENTION_DEFAULT_CLASS: string;
  /** Whether the maintenance schedule archives months at all. */
  readonly RETENTION_ARCHIVE: boolean;
}

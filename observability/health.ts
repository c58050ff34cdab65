/**
 * Readiness: each dependency (Temporal, Postgres, Docker) is checked with a
 * timeout; a failing one is named with its error and since when it fails.
 */
import { sql, type QueryExecutorProvider } from 'kysely';

export type DependencyName = 'temporal' | 'postgres' | 'docker';

export interface DependencyStatus {
  readonly name: DependencyName;
  readonly ok: boolean;
  readonly error?: string;
  /** ISO time of the first failure of the current outage. */
  readonly failingSince?: string;
  readonly failingForSeconds?: number;
}

export interface HealthReport {
  readonly ready: boolean;
  readonly dependencies: readonly DependencyStatus[];
}

export type Check = () => Promise<unknown>;

/**
 * The checks behind /readyz of the API and of a worker (one definition): Temporal through the
 * process's own connection, Postgres with `select 1`, Docker only where the process uses it.
 */
export function dependencyChecks(deps: { temporal: Check; db: QueryExecutorProvider; docker?: Check | undefined }): Partial<Record<DependencyName, Check>> {
  return {
    temporal: deps.temporal,
    postgres: () => sql`select 1`.execute(deps.db),
    ...(deps.docker ? { docker: deps.docker } : {}),
  };
}

export class ReadinessChecker {
  readonly #checks: ReadonlyMap<DependencyName, Check>;
  readonly #since = new Map<DependencyName, number>();
  readonly #timeoutMs: number;

  constructor(checks: Partial<Record<DependencyName, Check>>, timeoutMs = 2_000) {
    this.#checks = new Map(Object.entries(checks) as [DependencyName, Check][]);
    this.#timeoutMs = timeoutMs;
  }

  async #one(name: DependencyName, check: Check): Promise<DependencyStatus> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        check(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
        }),
      ]);
      this.#since.delete(name);
      return { name, ok: true };
    } catch (err) {
      const now = Date.now();
      const since = this.#since.get(name) ?? now;
      this.#since.set(name, since);
      return {
        name,
        ok: false,
        error: (err instanceof Error ? err.message : String(err)).split('\n')[0] || 'failed',
        failingSince: new Date(since).toISOString(),
        failingForSeconds: Math.round((now - since) / 1000),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  async check(): Promise<HealthReport> {
    const dependencies = await Promise.all([...this.#checks].map(([name, check]) => this.#one(name, check)));
    return { ready: dependencies.every((d) => d.ok), dependencies };
  }
}

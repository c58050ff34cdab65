/**
 * Text Postgres can store. Two kinds of JavaScript string break a write:
 * a NUL character (`text` and `jsonb` refuse 0x00: "invalid byte sequence for
 * encoding UTF8: 0x00", "unsupported Unicode escape sequence") and a lone
 * UTF-16 surrogate (JSON.stringify writes it as `\ud800`, which `jsonb`
 * refuses: "invalid input syntax for type json"). Model output, tool output
 * and anything a caller sends can carry both, so every write goes through
 * here: the API refuses them in what users send (`textProblem`), and whatever
 * still arrives (model, tools, Slack) is stored with NUL shown as U+2400 (␀)
 * and a lone surrogate as U+FFFD (�), the way a UTF-8 decoder shows bad bytes.
 * StorableDialect applies it to every string parameter of every query as the
 * driver sends it; JSON columns take `storableJson`, because JSON.stringify has
 * turned the bad characters into escapes by the time a parameter is seen.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';

/** What NUL becomes: the visible "symbol for null". */
export const NUL_REPLACEMENT = '\u2400';
/** What a lone surrogate becomes: the Unicode replacement character. */
export const SURROGATE_REPLACEMENT = '\ufffd';

// Without the `u` flag a regex sees UTF-16 code units, so it can find halves of pairs.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const SURROGATE = /[\ud800-\udfff]/;
/** NUL or any surrogate half (the quick test; most text has neither). */
const hasBad = (text: string): boolean => text.includes('\u0000') || SURROGATE.test(text);

/** The string with NUL → U+2400 and lone surrogates → U+FFFD; the same string when it has neither. */
export function storableText(text: string): string {
  if (!hasBad(text)) return text;
  return text.replaceAll('\u0000', NUL_REPLACEMENT).replace(LONE_SURROGATE, SURROGATE_REPLACEMENT);
}

/** Why Postgres would refuse `text` as it is, or undefined (for the API's validation messages). */
export function textProblem(text: string): string | undefined {
  if (!hasBad(text)) return undefined;
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  LONE_SURROGATE.lastIndex = 0;
  return LONE_SURROGATE.test(text) ? 'must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff)' : undefined;
}

function storableKeys(value: object): object {
  if (Array.isArray(value) || !Object.keys(value).some(hasBad)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), v]));
}

/** JSON.stringify for a `json`/`jsonb` column: every string and key made storable first. */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string') return storableText(v);
    return v !== null && typeof v === 'object' ? storableKeys(v) : v;
  });
}

/** The query with every string parameter storable; the same object when none needs it (nearly every query). */
export function storableQuery<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  if (!query.parameters.some((p) => typeof p === 'string' && hasBad(p))) return query;
  const parameters = query.parameters.map((p) => (typeof p === 'string' ? storableText(p) : p));
  return parameters.every((p, i) => p === query.parameters[i]) ? query : { ...query, parameters };
}

/** A connection whose queries go out with storable parameters. */
class StorableConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.inner.executeQuery<R>(storableQuery(query));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(storableQuery(query), chunkSize);
  }
}

/** The driver's own connection behind ours: its transactions and releases are its business. */
const innerOf = (connection: DatabaseConnection): DatabaseConnection => (connection instanceof StorableConnection ? connection.inner : connection);

class StorableDriver implements Driver {
  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new StorableConnection(await this.inner.acquireConnection());
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(innerOf(connection), settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(innerOf(connection));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(innerOf(connection));
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    if (!this.inner.savepoint) throw new Error('the database driver has no savepoints');
    await this.inner.savepoint(innerOf(connection), name, compile);
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    if (!this.inner.rollbackToSavepoint) throw new Error('the database driver has no savepoints');
    await this.inner.rollbackToSavepoint(innerOf(connection), name, compile);
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    if (!this.inner.releaseSavepoint) throw new Error('the database driver has no savepoints');
    await this.inner.releaseSavepoint(innerOf(connection), name, compile);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(innerOf(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/**
 * A dialect whose every string parameter is made storable (see the file comment) as its driver sends the query.
 * Issue 16: this was a Kysely plugin, which rebuilt every query's whole operation tree, node by node, to look at
 * its values (2 % of the sandbox worker's time at 200 sessions); a query's parameters are a short array.
 */
export class StorableDialect implements Dialect {
  constructor(private readonly inner: Dialect) {}

  createDriver(): Driver {
    return new StorableDriver(this.inner.createDriver());
  }

  createQueryCompiler(): QueryCompiler {
    return this.inner.createQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return this.inner.createAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return this.inner.createIntrospector(db);
  }
}

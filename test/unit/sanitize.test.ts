/** db/storable.ts: what Postgres would refuse (NUL, lone surrogates) becomes storable, in text, JSON and every query parameter. */
import { CompiledQuery, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, type DatabaseConnection, type Driver } from 'kysely';
import { describe, expect, it } from 'vitest';
import { NUL_REPLACEMENT, StorableDialect, storableQuery, SURROGATE_REPLACEMENT, storableJson, storableText, textProblem } from '../../db/storable.js';

const NUL = '\u0000';
const HIGH = '\ud800';
const LOW = '\udc00';
const PAIR = '\ud83d\ude00'; // 😀

/** What the pg driver sends: UTF-8 bytes; Postgres refuses 0x00 in text. */
function pgWouldRefuseText(s: string): boolean {
  return Buffer.from(s, 'utf8').includes(0);
}

/** What Postgres' jsonb refuses in a JSON text: a \u0000 escape or a surrogate escape (JSON.stringify writes lone ones so). */
function jsonbWouldRefuse(json: string): boolean {
  return /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i.test(json);
}

describe('storableText', () => {
  it('shows NUL as U+2400 and lone surrogates as U+FFFD, and keeps everything else', () => {
    expect(storableText(`a${NUL}b`)).toBe(`a${NUL_REPLACEMENT}b`);
    expect(storableText(`lone ${HIGH} high`)).toBe(`lone ${SURROGATE_REPLACEMENT} high`);
    expect(storableText(`lone ${LOW} low`)).toBe(`lone ${SURROGATE_REPLACEMENT} low`);
    expect(storableText(`${HIGH}${HIGH}${LOW}`)).toBe(`${SURROGATE_REPLACEMENT}${HIGH}${LOW}`);
    expect(storableText(`${LOW}${HIGH}`)).toBe(`${SURROGATE_REPLACEMENT}${SURROGATE_REPLACEMENT}`);
    expect(storableText(`end ${HIGH}`)).toBe(`end ${SURROGATE_REPLACEMENT}`);
    expect(storableText(`pair ${PAIR} kept, ünïcödé kept, \\u0000 text kept`)).toBe(`pair ${PAIR} kept, ünïcödé kept, \\u0000 text kept`);
    expect(pgWouldRefuseText(`a${NUL}b`)).toBe(true);
    expect(pgWouldRefuseText(storableText(`a${NUL}b`))).toBe(false);
  });

  it('returns well-formed strings (what a UTF-8 encoder can encode without loss)', () => {
    const messy = `${NUL}${HIGH}x${LOW}${PAIR}${HIGH}`;
    const out = storableText(messy);
    expect(Buffer.from(out, 'utf8').toString('utf8')).toBe(out);
    expect(out).toHaveLength(messy.length);
  });
});

describe('textProblem', () => {
  it('names NUL and unpaired surrogates, and nothing else', () => {
    expect(textProblem(`nul ${NUL} here`)).toMatch(/NUL/);
    expect(textProblem(`lone surrogate ${HIGH}`)).toMatch(/unpaired UTF-16 surrogate/);
    expect(textProblem(`lone ${LOW}`)).toMatch(/unpaired/);
    expect(textProblem(`fine ${PAIR} ünïcödé`)).toBeUndefined();
    expect(textProblem('')).toBeUndefined();
  });
});

describe('storableJson', () => {
  it('makes every string and key of a nested value storable before JSON.stringify escapes them', () => {
    const value = {
      content: `model said ${NUL} and ${HIGH}`,
      toolCalls: [{ arguments: `{"command":"echo ${LOW}"}` }],
      [`key${NUL}`]: { deeper: [`x${NUL}`, 1, null, true] },
      at: new Date('2026-01-02T03:04:05.000Z'),
      fine: `${PAIR}`,
    };
    expect(jsonbWouldRefuse(JSON.stringify(value))).toBe(true);
    const json = storableJson(value);
    expect(jsonbWouldRefuse(json)).toBe(false);
    expect(JSON.parse(json)).toEqual({
      content: `model said ${NUL_REPLACEMENT} and ${SURROGATE_REPLACEMENT}`,
      toolCalls: [{ arguments: `{"command":"echo ${SURROGATE_REPLACEMENT}"}` }],
      [`key${NUL_REPLACEMENT}`]: { deeper: [`x${NUL_REPLACEMENT}`, 1, null, true] },
      at: '2026-01-02T03:04:05.000Z',
      fine: PAIR,
    });
  });

  it('writes what JSON.stringify writes when there is nothing to fix', () => {
    const value = { a: [1, 'two', { three: 'ü\\u0000' }], b: null };
    expect(storableJson(value)).toBe(JSON.stringify(value));
  });
});

describe('StorableDialect', () => {
  /** What reached the driver's own connections, and the connections the driver's own calls were given. */
  const sent: { sql: string; parameters: readonly unknown[] }[] = [];
  const given: DatabaseConnection[] = [];
  const connection: DatabaseConnection = {
    executeQuery: async (query) => {
      sent.push({ sql: query.sql, parameters: query.parameters });
      return { rows: [] };
    },
    streamQuery: async function* (query) {
      sent.push({ sql: query.sql, parameters: query.parameters });
      yield { rows: [] };
    },
  };
  const driver: Driver = {
    init: async () => {},
    acquireConnection: async () => connection,
    beginTransaction: async (c) => {
      given.push(c);
      await c.executeQuery(CompiledQuery.raw('begin'));
    },
    commitTransaction: async (c) => {
      given.push(c);
      await c.executeQuery(CompiledQuery.raw('commit'));
    },
    rollbackTransaction: async (c) => {
      given.push(c);
      await c.executeQuery(CompiledQuery.raw('rollback'));
    },
    releaseConnection: async (c) => {
      given.push(c);
    },
    destroy: async () => {},
  };
  const db = new Kysely<{ messages: { content: string; seq: number } }>({
    dialect: new StorableDialect({
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    }),
  });
  const lastSent = () => sent.at(-1)?.parameters;

  it('fixes every string parameter it sends: inserts, updates, conditions, raw sql, in transactions and streams', async () => {
    await db.insertInto('messages').values({ content: `a${NUL}${HIGH}`, seq: 1 }).execute();
    expect(lastSent()).toEqual([`a${NUL_REPLACEMENT}${SURROGATE_REPLACEMENT}`, 1]);
    await db.insertInto('messages').values([{ content: `x${NUL}`, seq: 1 }, { content: 'y', seq: 2 }]).execute();
    expect(lastSent()).toEqual([`x${NUL_REPLACEMENT}`, 1, 'y', 2]);
    await db.updateTable('messages').set({ content: `${LOW}` }).where('content', '=', `w${NUL}`).execute();
    expect(lastSent()).toEqual([SURROGATE_REPLACEMENT, `w${NUL_REPLACEMENT}`]);
    await db.selectFrom('messages').selectAll().where('content', 'in', [`i${NUL}`, 'j']).execute();
    expect(lastSent()).toEqual([`i${NUL_REPLACEMENT}`, 'j']);
    await sql`select ${`r${NUL}`}::text, ${2}::int`.execute(db);
    expect(lastSent()).toEqual([`r${NUL_REPLACEMENT}`, 2]);
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('messages').values({ content: `t${HIGH}`, seq: 3 }).execute();
    });
    expect(sent.slice(-3).map((q) => q.sql)).toEqual(['begin', 'insert into "messages" ("content", "seq") values ($1, $2)', 'commit']);
    expect(sent.at(-2)?.parameters).toEqual([`t${SURROGATE_REPLACEMENT}`, 3]);
    for await (const _ of db.selectFrom('messages').selectAll().where('content', '=', `s${NUL}`).stream()) void _;
    expect(lastSent()).toEqual([`s${NUL_REPLACEMENT}`]);
  });

  it("hands the driver's own calls its own connection, and a query with nothing to fix goes out as it is", async () => {
    given.length = 0;
    await db.transaction().execute(async (trx) => {
      await trx.selectFrom('messages').selectAll().execute();
    });
    expect(given.length).toBe(3);
    expect(given.every((c) => c === connection)).toBe(true);
    const clean = CompiledQuery.raw('select $1, $2, $3', ['plain', 7, PAIR]);
    expect(storableQuery(clean)).toBe(clean);
    const dirty = CompiledQuery.raw('select $1, $2', [`d${NUL}`, 7]);
    expect(storableQuery(dirty)).toEqual({ ...dirty, parameters: [`d${NUL_REPLACEMENT}`, 7] });
    expect(dirty.parameters).toEqual([`d${NUL}`, 7]);
  });
});

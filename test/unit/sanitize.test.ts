/** db/storable.ts: what Postgres would refuse (NUL, lone surrogates) becomes storable, in text, JSON and every query parameter. */
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { NUL_REPLACEMENT, StorableTextPlugin, SURROGATE_REPLACEMENT, storableJson, storableText, textProblem } from '../../db/storable.js';

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

describe('StorableTextPlugin', () => {
  const db = new Kysely<{ messages: { content: string; seq: number } }>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    plugins: [new StorableTextPlugin()],
  });

  it('fixes every string parameter: inserts, updates, conditions and raw sql', () => {
    const insert = db.insertInto('messages').values({ content: `a${NUL}${HIGH}`, seq: 1 }).compile();
    expect(insert.parameters).toEqual([`a${NUL_REPLACEMENT}${SURROGATE_REPLACEMENT}`, 1]);
    const many = db.insertInto('messages').values([{ content: `x${NUL}`, seq: 1 }, { content: 'y', seq: 2 }]).compile();
    expect(many.parameters).toEqual([`x${NUL_REPLACEMENT}`, 1, 'y', 2]);
    const update = db.updateTable('messages').set({ content: `${LOW}` }).where('content', '=', `w${NUL}`).compile();
    expect(update.parameters).toEqual([SURROGATE_REPLACEMENT, `w${NUL_REPLACEMENT}`]);
    const inList = db.selectFrom('messages').selectAll().where('content', 'in', [`i${NUL}`, 'j']).compile();
    expect(inList.parameters).toEqual([`i${NUL_REPLACEMENT}`, 'j']);
    const raw = sql`select ${`r${NUL}`}::text, ${2}::int`.compile(db);
    expect(raw.parameters).toEqual([`r${NUL_REPLACEMENT}`, 2]);
  });
});

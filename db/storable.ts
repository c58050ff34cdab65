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
 * The plugin applies it to every string parameter of every query; JSON
 * columns take `storableJson`, because JSON.stringify has turned the bad
 * characters into escapes by the time a parameter is seen.
 */
import {
  OperationNodeTransformer,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type PrimitiveValueListNode,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
  type ValueNode,
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

class StorableTextTransformer extends OperationNodeTransformer {
  protected override transformValue(node: ValueNode): ValueNode {
    return typeof node.value === 'string' ? { ...node, value: storableText(node.value) } : node;
  }

  protected override transformPrimitiveValueList(node: PrimitiveValueListNode): PrimitiveValueListNode {
    return { ...node, values: node.values.map((v) => (typeof v === 'string' ? storableText(v) : v)) };
  }
}

/** Makes every string parameter of every query storable (see the file comment). */
export class StorableTextPlugin implements KyselyPlugin {
  readonly #transformer = new StorableTextTransformer();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#transformer.transformNode(args.node);
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

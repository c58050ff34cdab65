/**
 * YAML files validated with zod, with errors that name the file, the line and
 * the path of the fault: used for policies, the model policy and mock scenarios.
 */
import { readFileSync } from 'node:fs';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

/** A YAML file that does not parse or does not match its schema. */
export class YamlFileError extends Error {
  override readonly name = 'YamlFileError';
  constructor(
    readonly file: string,
    readonly problems: readonly { line: number; path: string; message: string }[],
  ) {
    super(
      `Invalid file ${file}:\n${problems
        .map((p) => `  - ${file}:${p.line}: ${p.path ? `${p.path}: ` : ''}${p.message}`)
        .join('\n')}`,
    );
  }
}

/** The 1-based line of the deepest node of `path` that exists in the document (of its key, for an unknown key). */
function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[], atKey = false): number {
  if (atKey && path.length > 0) {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1) as unknown[], true);
    if (isMap(parent)) {
      const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === path[path.length - 1]);
      if (pair && isNode(pair.key) && pair.key.range) return counter.linePos(pair.key.range[0]).line;
    }
  }
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      return counter.linePos(node.range[0]).line;
    }
  }
  return 1;
}

/** A parsed YAML document that can say on which line a path is written. */
export interface YamlDocument {
  readonly file: string;
  readonly value: unknown;
  /** 1-based line of `path` (of the key itself when `atKey`), or of its deepest existing parent; 0 when absent. */
  lineOf(path: readonly PropertyKey[], atKey?: boolean): number;
  /** Whether the document has a node at `path`. */
  has(path: readonly PropertyKey[]): boolean;
}

/** Parses YAML text (syntax errors throw YamlFileError with their line). */
export function readYamlText(text: string, file: string): YamlDocument {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new YamlFileError(
      file,
      doc.errors.map((e) => ({ line: counter.linePos(e.pos[0]).line, path: '', message: e.message.split('\n')[0] ?? e.code })),
    );
  }
  return {
    file,
    value: doc.toJS({ maxAliasCount: 100 }),
    lineOf: (path, atKey = false) => lineOf(doc, counter, path, atKey),
    has: (path) => path.length === 0 || doc.hasIn(path as unknown[]),
  };
}

/** The problems of a zod failure, each at the line of the document where its path is written. */
export function problemsOf(error: z.ZodError, lineFor: (path: readonly PropertyKey[], atKey: boolean) => number) {
  return error.issues.flatMap((issue) => {
    // An unknown key is reported where it is written, not at its parent.
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    return paths.map((path) => ({
      line: lineFor(path, issue.code === 'unrecognized_keys'),
      path: path.map(String).join('.'),
      message: issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message,
    }));
  });
}

/** Parses YAML text and validates it; `file` is only used in messages. */
export function parseYaml<S extends z.ZodType>(text: string, schema: S, file: string): z.infer<S> {
  const doc = readYamlText(text, file);
  const result = schema.safeParse(doc.value);
  if (!result.success) throw new YamlFileError(file, problemsOf(result.error, (path, atKey) => doc.lineOf(path, atKey)));
  return result.data;
}

/** Reads a YAML file without validating it. */
export function readYamlFile(file: string): YamlDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new YamlFileError(file, [{ line: 0, path: '', message: `cannot read: ${(err as Error).message}` }]);
  }
  return readYamlText(text, file);
}

/** Reads and validates a YAML file. */
export function loadYamlFile<S extends z.ZodType>(file: string, schema: S): z.infer<S> {
  const doc = readYamlFile(file);
  const result = schema.safeParse(doc.value);
  if (!result.success) throw new YamlFileError(file, problemsOf(result.error, (path, atKey) => doc.lineOf(path, atKey)));
  return result.data;
}

/**
 * The import structure of docs/ARCHITECTURE.md ("Layers"), checked on the
 * code: every relative import of a source file points to its own layer or
 * one below, the console (web/) imports domain/ and the API's types only,
 * the folders of one layer import each other without a loop, no files import
 * each other in a loop (type imports count: a loop of types is a loop of
 * meaning), and every top-level folder of sources is in the table, so a new
 * one cannot go unchecked. Imports are read by TypeScript's own
 * pre-processor, so comments and strings that look like imports are not
 * taken for ones.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';

/**
 * Top to bottom; a folder may import its own layer and those after it, and
 * nothing else (not test/). Above them all, scripts/, bench/ and test/ may
 * import any of them.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['api'],
  ['temporal', 'workflows'],
  ['activities'],
  ['router', 'sandbox', 'db', 'storage', 'retention', 'slack', 'secrets', 'agents', 'mock-llm'],
  ['policies'],
  ['config', 'observability'],
  ['domain'],
];

/**
 * The console runs in the browser, beside the layers: it may import domain/ (pure) and api/ as
 * `import type` / `export type` only (erased, so no server code is bundled), and nothing else of ours.
 */
const WEB = { folder: 'web', imports: ['domain'], typeImports: ['api'] } as const;

/** Entry points for people and the tests: they may import anything, and nothing imports them. */
const ENTRY_POINTS: readonly string[] = ['scripts', 'bench', 'test'];

/** Known imports that still run up, each with its issue; the list only shrinks. */
const STILL_UP: ReadonlySet<string> = new Set<string>([]);

const rankOf = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank] as const)));
const folderOf = (file: string) => file.split('/')[0] as string;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** file -> the project files it imports (static, dynamic, `export … from`), as paths from the root. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...rankOf.keys(), WEB.folder].flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(REPO_ROOT, file), 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), name)).replace(/\.js$/, '.ts'));
    graph.set(file, targets);
  }
  return graph;
}

/** The targets (as in importGraph) that `file` imports or re-exports only as types (`import type`, `export type`). */
function typeOnlyTargets(file: string): Set<string> {
  const source = ts.createSourceFile(file, readFileSync(join(REPO_ROOT, file), 'utf8'), ts.ScriptTarget.Latest);
  const typeOnly = new Set<string>();
  const valued = new Set<string>();
  for (const node of source.statements) {
    if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) || !node.moduleSpecifier || !ts.isStringLiteral(node.moduleSpecifier)) continue;
    const target = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), node.moduleSpecifier.text)).replace(/\.js$/, '.ts');
    const erased = ts.isImportDeclaration(node) ? node.importClause?.isTypeOnly === true : node.isTypeOnly;
    (erased ? typeOnly : valued).add(target);
  }
  return new Set([...typeOnly].filter((t) => !valued.has(t)));
}

/** Top-level folders holding TypeScript sources (not hidden ones, not node_modules). */
function sourceFolders(): string[] {
  return readdirSync(REPO_ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules')
    .map((e) => e.name)
    .filter((dir) => sourceFiles(dir).length > 0);
}

/** Strongly connected components with more than one member (Tarjan). */
function loops(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('layers', () => {
  const graph = importGraph();
  const edges = [...graph].flatMap(([from, targets]) => targets.map((to) => ({ from, to })));

  it('reads the source tree', () => {
    expect(graph.size).toBeGreaterThan(250);
    expect(edges.some((e) => e.from === 'api/build.ts' && e.to === 'api/collectors.ts')).toBe(true);
  });

  it('every top-level folder of sources is in the layer table', () => {
    const listed = new Set([...rankOf.keys(), WEB.folder, ...ENTRY_POINTS]);
    expect(sourceFolders().filter((dir) => !listed.has(dir))).toEqual([]);
  });

  it('imports point to the same layer or down', () => {
    const up = edges
      .filter(({ from }) => folderOf(from) !== WEB.folder)
      .filter(({ from, to }) => folderOf(from) !== folderOf(to))
      .filter(({ from, to }) => (rankOf.get(folderOf(to)) ?? -1) < (rankOf.get(folderOf(from)) as number))
      .map(({ from, to }) => `${from} -> ${to}`)
      .filter((edge) => !STILL_UP.has(edge));
    expect(up).toEqual([]);
  });

  it('web/ imports domain/, and api/ as types only', () => {
    expect(edges.some((e) => e.from === 'web/src/types.ts' && e.to === 'api/routes/sessions.ts')).toBe(true);
    const allowed: readonly string[] = [WEB.folder, ...WEB.imports];
    const typeOnly = new Map<string, Set<string>>();
    const wrong = edges
      .filter(({ from, to }) => folderOf(from) === WEB.folder && !allowed.includes(folderOf(to)))
      .filter(({ from, to }) => {
        if (!(WEB.typeImports as readonly string[]).includes(folderOf(to))) return true;
        if (!typeOnly.has(from)) typeOnly.set(from, typeOnlyTargets(from));
        return !typeOnly.get(from)?.has(to);
      })
      .map(({ from, to }) => `${from} -> ${to}`);
    expect(wrong).toEqual([]);
  });

  it('domain/ imports nothing of the project', () => {
    expect(edges.filter(({ from, to }) => folderOf(from) === 'domain' && folderOf(to) !== 'domain')).toEqual([]);
  });

  it('the folders of a layer import each other without a loop', () => {
    const folders = new Map<string, string[]>();
    for (const { from, to } of edges) {
      const [a, b] = [folderOf(from), folderOf(to)];
      if (a !== b && !STILL_UP.has(`${from} -> ${to}`)) folders.set(a, [...new Set([...(folders.get(a) ?? []), b])]);
    }
    for (const f of rankOf.keys()) if (!folders.has(f)) folders.set(f, []);
    expect(loops(folders)).toEqual([]);
  });

  it('no files import each other in a loop', () => {
    expect(loops(graph)).toEqual([]);
  });
});

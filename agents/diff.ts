/**
 * The diff of two agent versions: a structured diff (each field added,
 * removed or changed; list fields say which entries came and went), unified
 * text diffs of the prompt and of the YAML rendering (the `diff` package),
 * and the risk a move between them carries (agents/risk.ts).
 */
import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import { canonicalJson } from '../domain/canonical-json.js';
import type { AgentSpec } from './schema.js';

export interface FieldChange {
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
  readonly from?: unknown;
  readonly to?: unknown;
  /** For lists: the entries only one side has. */
  readonly added?: readonly unknown[];
  readonly removed?: readonly unknown[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Paths of leaves (lists are leaves) to their values. */
function leaves(value: Record<string, unknown>, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    if (isObject(v) && Object.keys(v).length > 0) leaves(v, path, out);
    else out.set(path, v);
  }
  return out;
}

export function structuredDiff(a: AgentSpec, b: AgentSpec): FieldChange[] {
  const before = leaves(a as unknown as Record<string, unknown>);
  const after = leaves(b as unknown as Record<string, unknown>);
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const out: FieldChange[] = [];
  for (const path of paths) {
    const from = before.get(path);
    const to = after.get(path);
    if (from === undefined) out.push({ path, change: 'added', to });
    else if (to === undefined) out.push({ path, change: 'removed', from });
    else if (canonicalJson(from) !== canonicalJson(to)) {
      if (Array.isArray(from) && Array.isArray(to)) {
        const keyed = (list: unknown[]) => new Set(list.map((x) => canonicalJson(x)));
        const [fa, ta] = [keyed(from), keyed(to)];
        out.push({ path, change: 'changed', from, to, added: to.filter((x) => !fa.has(canonicalJson(x))), removed: from.filter((x) => !ta.has(canonicalJson(x))) });
      } else {
        // The prompt's change is read in the unified diff; the structured one only says that it changed.
        out.push(path === 'systemPrompt' ? { path, change: 'changed' } : { path, change: 'changed', from, to });
      }
    }
  }
  return out;
}

/** The YAML a person reads and edits: keys in a stable order. */
export function specYaml(spec: AgentSpec): string {
  return stringify(JSON.parse(canonicalJson(spec)) as unknown, { lineWidth: 0 });
}

/** A unified diff (`---`/`+++` headers named after the two versions), with three lines of context. */
export function unifiedDiff(name: string, fromLabel: string, toLabel: string, a: string, b: string): string {
  const ensureNl = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return createTwoFilesPatch(`${name}@${fromLabel}`, `${name}@${toLabel}`, ensureNl(a), ensureNl(b), undefined, undefined, { context: 3 });
}

/**
 * The structured diff of two policies, as a reviewer reads it: each rule by
 * id added, removed, changed (which fields) or moved (first match wins, so
 * order matters); limits, tools, the network allowlist, the approval
 * defaults and the other settings. Which way each change moves the policy
 * (looser or tighter) is policies/compare.ts's call, shared with agent promotion.
 */
import { canonicalJson } from '../domain/canonical-json.js';
import { comparePolicies, type PolicyChange } from './compare.js';
import type { Policy, PolicyRule } from './schema.js';

export interface RuleDiff {
  /** The rule's id, or `#<index>` for a rule without one (as compare.ts names it). */
  readonly id: string;
  readonly change: 'added' | 'removed' | 'changed' | 'moved';
  /** Fields of the rule that differ (`action`, `match`, `approval`, ...), for `changed`. */
  readonly fields?: readonly string[];
  /** Index in each policy's rule list (absent on the side that lacks the rule). */
  readonly position: { readonly from?: number; readonly to?: number };
  readonly from?: PolicyRule;
  readonly to?: PolicyRule;
}

export interface ValueChange {
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface ListChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export interface PolicyDiff {
  readonly rules: readonly RuleDiff[];
  readonly limits: readonly ValueChange[];
  readonly tools: ListChange;
  readonly network: ListChange;
  /** approval.* defaults and the top-level settings (default, shellParse, extends, description, name). */
  readonly settings: readonly ValueChange[];
  /** `loosening` when any change lets more through (a promotion would need approval), else `tightening`, else `none`. */
  readonly risk: { readonly classification: 'loosening' | 'tightening' | 'none'; readonly changes: readonly PolicyChange[] };
}

function keyed(rules: readonly PolicyRule[]): Map<string, { rule: PolicyRule; index: number }> {
  return new Map(rules.map((rule, index) => [rule.id ?? `#${index}`, { rule, index }]));
}

const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

function listChange(from: readonly string[], to: readonly string[]): ListChange {
  return { added: to.filter((x) => !from.includes(x)), removed: from.filter((x) => !to.includes(x)) };
}

function valueChanges(prefix: string, from: Record<string, unknown>, to: Record<string, unknown>, keys: readonly string[]): ValueChange[] {
  return keys.filter((key) => !same(from[key], to[key])).map((key) => ({ path: prefix ? `${prefix}.${key}` : key, from: from[key] ?? null, to: to[key] ?? null }));
}

function ruleDiffs(a: readonly PolicyRule[], b: readonly PolicyRule[]): RuleDiff[] {
  const before = keyed(a);
  const after = keyed(b);
  // Moves are judged among the rules both sides keep: an insertion above a rule does not move it.
  const keptBefore = [...before.keys()].filter((id) => after.has(id));
  const keptAfter = [...after.keys()].filter((id) => before.has(id));
  const out: RuleDiff[] = [];
  for (const [id, { rule, index }] of before) {
    const next = after.get(id);
    if (!next) {
      out.push({ id, change: 'removed', position: { from: index }, from: rule });
      continue;
    }
    const fields = [...new Set([...Object.keys(rule), ...Object.keys(next.rule)])]
      .filter((field) => !same((rule as Record<string, unknown>)[field], (next.rule as Record<string, unknown>)[field]))
      .sort();
    const moved = keptBefore.indexOf(id) !== keptAfter.indexOf(id);
    if (fields.length > 0) out.push({ id, change: 'changed', fields, position: { from: index, to: next.index }, from: rule, to: next.rule });
    else if (moved) out.push({ id, change: 'moved', position: { from: index, to: next.index } });
  }
  for (const [id, { rule, index }] of after) {
    if (!before.has(id)) out.push({ id, change: 'added', position: { to: index }, to: rule });
  }
  return out;
}

/** Every difference from `a` to `b` (equal policies: empty lists and risk `none`). */
export function diffPolicies(a: Policy, b: Policy): PolicyDiff {
  const changes = comparePolicies(a, b);
  const classification = changes.some((c) => c.direction === 'looser') ? 'loosening' : changes.length > 0 ? 'tightening' : 'none';
  return {
    rules: ruleDiffs(a.rules, b.rules),
    limits: valueChanges('limits', a.limits, b.limits, ['maxSteps', 'maxCostUsd']),
    tools: listChange(a.tools, b.tools),
    network: listChange(a.network.allow, b.network.allow),
    settings: [
      ...valueChanges('', a, b, ['name', 'extends', 'description', 'default', 'shellParse']),
      ...valueChanges('approval', a.approval, b.approval, ['approvers', 'roles', 'excludedApprovers', 'timeout', 'onTimeout', 'slack']),
    ],
    risk: { classification, changes },
  };
}

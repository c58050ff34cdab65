/**
 * Which way a policy moved: every change from `a` to `b` that lets more
 * through (looser) or less (tighter). Promotion of an agent version asks
 * for approval when anything got looser (agents/risk.ts). Rules are matched
 * by id (by position when a rule has none). Kept on its own so that tenant
 * policy versions can extend it.
 */
import type { Policy, PolicyRule } from './schema.js';

export interface PolicyChange {
  /** Where: `template`, `rules.<id>.action`, `approval.approvers`, `network.allow`, ... */
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
  readonly direction: 'looser' | 'tighter';
  readonly why: string;
}

/** The repo's templates from tightest to loosest. */
export const TEMPLATE_RANK: Readonly<Record<string, number>> = { strict: 0, standard: 1, permissive: 2 };

/** How much an action lets through: deny < approve < allow. */
const ACTION_RANK = { deny: 0, approve: 1, allow: 2 } as const;

function ruleKey(rule: PolicyRule, index: number): string {
  return rule.id ?? `#${index}`;
}

function more(path: string, from: number, to: number, what: string, higherIsLooser = true): PolicyChange[] {
  if (from === to) return [];
  const looser = higherIsLooser ? to > from : to < from;
  return [{ path, from, to, direction: looser ? 'looser' : 'tighter', why: `${what} ${to > from ? 'raised' : 'lowered'} from ${from} to ${to}` }];
}

/** Hosts or tools in `to` that `from` lacks are looser; ones removed are tighter. */
export function setChanges(path: string, from: readonly string[], to: readonly string[], what: string): PolicyChange[] {
  const added = to.filter((x) => !from.includes(x));
  const removed = from.filter((x) => !to.includes(x));
  const out: PolicyChange[] = [];
  if (added.length > 0) out.push({ path, from, to, direction: 'looser', why: `${what} added: ${added.join(', ')}` });
  if (removed.length > 0) out.push({ path, from, to, direction: 'tighter', why: `${what} removed: ${removed.join(', ')}` });
  return out;
}

function approvers(rule: PolicyRule | undefined, policy: Policy): number {
  return Math.max(rule?.approval?.approvers ?? policy.approval.approvers, rule?.approval?.roles?.length ?? policy.approval.roles.length);
}

function compareRules(a: Policy, b: Policy): PolicyChange[] {
  const before = new Map(a.rules.map((r, i) => [ruleKey(r, i), r]));
  const after = new Map(b.rules.map((r, i) => [ruleKey(r, i), r]));
  const out: PolicyChange[] = [];
  for (const [id, rule] of before) {
    const next = after.get(id);
    const path = `rules.${id}`;
    if (!next) {
      // A rule that held calls back is gone: what it matched now falls through to looser rules or the default.
      if (rule.action !== 'allow') out.push({ path, from: rule.action, to: null, direction: 'looser', why: `rule ${id} (${rule.action}) removed` });
      else out.push({ path, from: rule.action, to: null, direction: 'tighter', why: `rule ${id} (allow) removed` });
      continue;
    }
    if (next.action !== rule.action) {
      const looser = ACTION_RANK[next.action] > ACTION_RANK[rule.action];
      out.push({ path: `${path}.action`, from: rule.action, to: next.action, direction: looser ? 'looser' : 'tighter', why: `rule ${id} changed from ${rule.action} to ${next.action}` });
    } else if (rule.action === 'approve' && (rule.approval?.approvers ?? rule.approval?.roles ?? next.approval?.approvers ?? next.approval?.roles) !== undefined) {
      // Only rules that set their own approvers: the policy-wide count is compared once, below.
      out.push(...more(`${path}.approval.approvers`, approvers(rule, a), approvers(next, b), `approvers of rule ${id}`, false));
    }
    if (JSON.stringify(rule.match ?? {}) !== JSON.stringify(next.match ?? {}) && next.action !== 'allow') {
      // A changed pattern of a restricting rule may match less: treated as looser, since no one can prove it matches as much.
      out.push({ path: `${path}.match`, from: rule.match ?? {}, to: next.match ?? {}, direction: 'looser', why: `rule ${id} matches differently` });
    }
  }
  for (const [id, rule] of after) {
    if (before.has(id)) continue;
    const direction = rule.action === 'allow' ? 'looser' : 'tighter';
    out.push({ path: `rules.${id}`, from: null, to: rule.action, direction, why: `rule ${id} (${rule.action}) added` });
  }
  return out;
}

/** Every change from `a` to `b`, each marked looser or tighter; equal policies give none. */
export function comparePolicies(a: Policy, b: Policy): PolicyChange[] {
  const out: PolicyChange[] = [];
  const rankA = TEMPLATE_RANK[a.name];
  const rankB = TEMPLATE_RANK[b.name];
  if (a.name !== b.name && rankA !== undefined && rankB !== undefined) {
    // Two different templates: their declared rank says which is looser (their rules have nothing in common to match up).
    out.push({ path: 'template', from: a.name, to: b.name, direction: rankB > rankA ? 'looser' : 'tighter', why: `policy template ${a.name} -> ${b.name}` });
  } else {
    out.push(...compareRules(a, b));
    if (a.default !== b.default) {
      const looser = ACTION_RANK[b.default] > ACTION_RANK[a.default];
      out.push({ path: 'default', from: a.default, to: b.default, direction: looser ? 'looser' : 'tighter', why: `default changed from ${a.default} to ${b.default}` });
    }
    out.push(...more('approval.approvers', approvers(undefined, a), approvers(undefined, b), 'approvers', false));
    // Fewer excluded approvers lets more people decide: looser.
    for (const change of setChanges('approval.excludedApprovers', a.approval.excludedApprovers, b.approval.excludedApprovers, 'excluded approvers')) {
      out.push({ ...change, direction: change.direction === 'looser' ? 'tighter' : 'looser' });
    }
  }
  out.push(...more('limits.maxSteps', a.limits.maxSteps, b.limits.maxSteps, 'max steps'));
  out.push(...more('limits.maxCostUsd', a.limits.maxCostUsd, b.limits.maxCostUsd, 'max cost'));
  out.push(...setChanges('tools', a.tools, b.tools, 'tools'));
  out.push(...setChanges('network.allow', a.network.allow, b.network.allow, 'network hosts'));
  if (a.shellParse !== b.shellParse) {
    out.push({ path: 'shellParse', from: a.shellParse, to: b.shellParse, direction: b.shellParse ? 'tighter' : 'looser', why: `shell parsing turned ${b.shellParse ? 'on' : 'off'}` });
  }
  return out;
}

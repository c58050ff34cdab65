import { describe, expect, it } from 'vitest';
import { classifyRisk } from '../../agents/risk.js';
import { agentSpecSchema, type AgentSpec } from '../../agents/schema.js';
import { comparePolicies } from '../../policies/compare.js';
import { PolicyStore } from '../../policies/load.js';
import type { Policy } from '../../policies/schema.js';
import { REPO_ROOT } from '../../config/index.js';

const store = new PolicyStore(`${REPO_ROOT}/policies`);
const policy = (name: string): Policy => {
  const p = store.get(name);
  if (!p) throw new Error(`no policy ${name}`);
  return p;
};

const spec = (over: Partial<AgentSpec> = {}): AgentSpec =>
  agentSpecSchema.parse({ systemPrompt: 'Review the code.', tools: ['read_file', 'list_files'], policy: 'standard', limits: { maxCostUsd: 1 }, ...over });

const at = (s: AgentSpec) => ({ spec: s, policy: policy(s.policy) });
const paths = (r: ReturnType<typeof classifyRisk>) => r.reasons.map((x) => x.path);

describe('promotion risk', () => {
  it('equal content is not risky, and a changed prompt alone is not either', () => {
    expect(classifyRisk(at(spec()), at(spec()))).toEqual({ risky: false, reasons: [], changes: [] });
    expect(classifyRisk(at(spec()), at(spec({ systemPrompt: 'Review the code carefully.' }))).risky).toBe(false);
  });

  it('a label with no version yet moves at once', () => {
    expect(classifyRisk(null, at(spec())).risky).toBe(false);
  });

  it('tightening is not risky: lower cost, fewer tools, a stricter template, fewer hosts', () => {
    const loose = spec({ tools: ['shell', 'read_file'], limits: { maxCostUsd: 3 }, network: { allow: ['a.example.com', 'b.example.com'] } });
    const tight = spec({ tools: ['read_file'], limits: { maxCostUsd: 1 }, network: { allow: ['a.example.com'] }, policy: 'strict' });
    const result = classifyRisk(at(loose), at(tight));
    expect(result.risky).toBe(false);
    expect(result.changes.every((c) => c.direction === 'tighter')).toBe(true);
    expect(result.changes.map((c) => c.path)).toEqual(expect.arrayContaining(['template', 'limits.maxCostUsd', 'tools', 'network.allow']));
  });

  it('names each loosening: a higher cost limit, a wider allowlist, a tool, a looser template, a secret', () => {
    const base = spec({ policy: 'strict', limits: { maxCostUsd: 1 } });
    expect(paths(classifyRisk(at(base), at({ ...base, limits: { maxCostUsd: 1.5 } })))).toEqual(['limits.maxCostUsd']);
    expect(paths(classifyRisk(at(base), at({ ...base, network: { allow: ['pypi.org'] } })))).toEqual(['network.allow']);
    expect(paths(classifyRisk(at(base), at({ ...base, tools: ['read_file', 'list_files', 'shell'] })))).toEqual(['tools']);
    expect(paths(classifyRisk(at(base), at({ ...base, secrets: ['GITHUB_TOKEN'] })))).toEqual(['secrets']);
    const looser = classifyRisk(at(base), at({ ...base, policy: 'standard' }));
    expect(looser.risky).toBe(true);
    expect(paths(looser)).toContain('template');
    expect(looser.reasons.find((r) => r.path === 'template')?.why).toBe('policy template strict -> standard');
  });

  it('a cost limit above what the policy allows changes nothing (the policy caps it)', () => {
    // strict caps cost at 2: 5 and 9 are both 2 for sessions.
    const a = spec({ policy: 'strict', limits: { maxCostUsd: 5 } });
    expect(classifyRisk(at(a), at({ ...a, limits: { maxCostUsd: 9 } })).risky).toBe(false);
  });
});

describe('comparePolicies', () => {
  const strict = policy('strict');
  it('a rule from approve to allow, and fewer approvers, are looser', () => {
    const relaxed: Policy = {
      ...strict,
      approval: { ...strict.approval, approvers: 1 },
      rules: strict.rules.map((r) => (r.id === 'writes' ? { ...r, action: 'allow' as const } : r)),
    };
    const changes = comparePolicies(strict, relaxed);
    expect(changes.filter((c) => c.direction === 'looser').map((c) => c.path).sort()).toEqual(['approval.approvers', 'rules.writes.action']);
    expect(comparePolicies(relaxed, strict).every((c) => c.direction === 'tighter')).toBe(true);
  });

  it('removing a restricting rule is looser; adding a deny rule is tighter', () => {
    const without: Policy = { ...strict, rules: strict.rules.filter((r) => r.id !== 'network-host') };
    expect(comparePolicies(strict, without)).toEqual([expect.objectContaining({ path: 'rules.network-host', direction: 'looser' })]);
    const more: Policy = { ...strict, rules: [{ id: 'no-curl', tool: 'shell', action: 'deny', risk: 'high', match: { command: 'curl' } }, ...strict.rules] };
    expect(comparePolicies(strict, more)).toEqual([expect.objectContaining({ path: 'rules.no-curl', direction: 'tighter' })]);
  });

  it('fewer approvers on one rule, and a looser default, are looser', () => {
    const rule = strict.rules.find((r) => r.id === 'shell');
    if (!rule) throw new Error('strict has a shell rule');
    const oneApprover: Policy = { ...strict, default: 'allow', rules: strict.rules.map((r) => (r.id === 'shell' ? { ...r, approval: { approvers: 1 } } : r)) };
    expect(comparePolicies(strict, oneApprover).map((c) => `${c.path}:${c.direction}`).sort()).toEqual(['default:looser', 'rules.shell.approval.approvers:looser']);
  });
});

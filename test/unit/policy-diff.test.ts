/**
 * The structured policy diff (policies/diff.ts) on policies resolved the way
 * the API resolves a saved YAML (PolicyStore.parseTenantPolicy over the
 * repo's templates): rules by id, limits, tools, allowlist, settings, and
 * the risk classification from policies/compare.ts.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.js';
import { YamlFileError } from '../../config/yaml.js';
import { diffPolicies } from '../../policies/diff.js';
import { PolicyStore } from '../../policies/load.js';

const store = new PolicyStore(loadConfig({ KORTIX_ENV: 'test' }).POLICIES_DIR);
const parse = (yaml: string) => store.parseTenantPolicy(yaml, 'body.yaml');

const BASE = `name: team
extends: standard
limits: { maxSteps: 30, maxCostUsd: 5 }
network: { allow: [pypi.org] }
rules:
  - id: no-git-push
    tool: shell
    match: { command: 'git\\s+push' }
    action: deny
  - id: read-secrets
    tool: read_file
    match: { path: 'secrets/**' }
    action: approve
`;

describe('diffPolicies', () => {
  it('finds nothing between equal policies', () => {
    const d = diffPolicies(parse(BASE), parse(BASE));
    expect(d).toMatchObject({ rules: [], limits: [], tools: { added: [], removed: [] }, network: { added: [], removed: [] }, settings: [] });
    expect(d.risk).toEqual({ classification: 'none', changes: [] });
  });

  it('names a rule changed from deny to allow, with the field, and calls it loosening', () => {
    const d = diffPolicies(parse(BASE), parse(BASE.replace('action: deny', 'action: allow')));
    expect(d.rules).toEqual([
      expect.objectContaining({ id: 'no-git-push', change: 'changed', fields: ['action'], position: { from: 0, to: 0 } }),
    ]);
    expect(d.risk.classification).toBe('loosening');
    expect(d.risk.changes).toContainEqual(expect.objectContaining({ path: 'rules.no-git-push.action', from: 'deny', to: 'allow', direction: 'looser' }));
  });

  it('reports added and removed rules, and a kept rule an insertion shifts is not "moved"', () => {
    const added = BASE.replace('rules:\n', "rules:\n  - id: no-curl\n    tool: shell\n    match: { command: curl }\n    action: deny\n");
    const d = diffPolicies(parse(BASE), parse(added));
    expect(d.rules).toEqual([expect.objectContaining({ id: 'no-curl', change: 'added', position: { to: 0 } })]);
    expect(d.risk.classification).toBe('tightening');
    const back = diffPolicies(parse(added), parse(BASE));
    expect(back.rules).toEqual([expect.objectContaining({ id: 'no-curl', change: 'removed', position: { from: 0 } })]);
    expect(back.risk.classification).toBe('loosening');
  });

  it('says when two kept rules swap places (first match wins)', () => {
    const swapped = `name: team
extends: standard
limits: { maxSteps: 30, maxCostUsd: 5 }
network: { allow: [pypi.org] }
rules:
  - id: read-secrets
    tool: read_file
    match: { path: 'secrets/**' }
    action: approve
  - id: no-git-push
    tool: shell
    match: { command: 'git\\s+push' }
    action: deny
`;
    const d = diffPolicies(parse(BASE), parse(swapped));
    expect(d.rules.map((r) => [r.id, r.change])).toEqual([
      ['no-git-push', 'moved'],
      ['read-secrets', 'moved'],
    ]);
  });

  it('lists limit, tool, allowlist and approval changes', () => {
    const next = BASE.replace('maxSteps: 30', 'maxSteps: 50')
      .replace('[pypi.org]', '[pypi.org, github.com]')
      .replace('extends: standard\n', 'extends: standard\ntools: [shell, read_file]\napproval: { approvers: 1 }\n');
    const d = diffPolicies(parse(BASE), parse(next));
    expect(d.limits).toEqual([{ path: 'limits.maxSteps', from: 30, to: 50 }]);
    expect(d.tools).toEqual({ added: [], removed: ['write_file', 'list_files'] });
    expect(d.network).toEqual({ added: ['github.com'], removed: [] });
    expect(d.settings).toContainEqual({ path: 'approval.approvers', from: 2, to: 1 });
    expect(d.risk.classification).toBe('loosening');
    const why = d.risk.changes.filter((c) => c.direction === 'looser').map((c) => c.path).sort();
    // The policy-wide approver count is one change (compare.ts), not one per rule that inherits it.
    expect(why).toEqual(['approval.approvers', 'limits.maxSteps', 'network.allow']);
  });
});

describe('PolicyStore.parseTenantPolicy', () => {
  it('reports a fault with its line and path, as the loader does for files', () => {
    let error: unknown;
    try {
      parse(BASE.replace('action: approve', 'action: maybe'));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(YamlFileError);
    expect((error as YamlFileError).problems).toEqual([expect.objectContaining({ line: 13, path: 'rules.1.action' })]);
  });

  it('refuses an unknown template', () => {
    expect(() => parse('name: x\nextends: lax\n')).toThrow(/body.yaml:2: extends: unknown template "lax"/);
  });
});

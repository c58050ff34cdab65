/**
 * Templates and tenant policies: `extends` merges a tenant's policy over a
 * template (its rules first), faults are reported in the file that wrote them,
 * and the shipped templates decide as their names promise.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { YamlFileError } from '../../config/yaml.js';
import { evaluatePolicy, hostsIn } from '../../policies/evaluate.js';
import { PolicyStore } from '../../policies/load.js';
import type { Policy } from '../../policies/schema.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kortix-policy-store-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const BASE = [
  'name: base',
  'limits: { maxSteps: 10, maxCostUsd: 3 }',
  'approval: { approvers: 2, timeout: 30m }',
  'rules:',
  '  - id: shell-rm',
  '    tool: shell',
  "    match: { command: '\\brm\\b' }",
  '    action: approve',
  '    risk: high',
  '  - id: shell',
  '    tool: shell',
  '    action: allow',
  'default: deny',
  '',
].join('\n');

describe('tenant policies', () => {
  const root = tree({
    'templates/base.yaml': BASE,
    'tenants/acme/base.yaml': [
      'name: base',
      'extends: base',
      'limits: { maxSteps: 5 }',
      'approval: { roles: [admin, security], slack: { channel: "#approvals" } }',
      'rules:',
      '  - id: no-curl',
      '    tool: shell',
      "    match: { command: 'curl' }",
      '    action: deny',
      '',
    ].join('\n'),
  });
  const store = new PolicyStore(root);

  it('gives a tenant its own policy, and others the template', () => {
    const acme = store.get('base', 'acme') as Policy;
    const other = store.get('base', 'globex') as Policy;
    expect(acme.limits).toEqual({ maxSteps: 5, maxCostUsd: 3 });
    expect(other.limits).toEqual({ maxSteps: 10, maxCostUsd: 3 });
    expect(acme.extends).toBe('base');
    expect(store.names('acme')).toEqual(['base']);
  });

  it("puts the tenant's rules before the template's and merges approval settings", () => {
    const acme = store.get('base', 'acme') as Policy;
    expect(acme.rules.map((r) => r.id)).toEqual(['no-curl', 'shell-rm', 'shell']);
    expect(evaluatePolicy(acme, { name: 'shell', arguments: { command: 'curl x' } })).toMatchObject({ action: 'deny', ruleId: 'no-curl' });
    expect(evaluatePolicy(acme, { name: 'shell', arguments: { command: 'rm x' } })).toMatchObject({
      action: 'approve',
      approvers: 2,
      roles: ['admin', 'security'],
      timeoutMs: 30 * 60_000,
      slackChannel: '#approvals',
    });
  });

  it('reports a fault in the tenant file, with its line', () => {
    const bad = tree({ 'templates/base.yaml': BASE, 'tenants/acme/strict2.yaml': 'name: strict2\nextends: base\nlimits:\n  maxSteps: 0\n' });
    expect(() => new PolicyStore(bad)).toThrow(/tenants\/acme\/strict2\.yaml:4: limits\.maxSteps/);
  });

  it('refuses an unknown template and a file whose name does not match', () => {
    const unknown = tree({ 'templates/base.yaml': BASE, 'tenants/acme/x.yaml': 'name: x\n\nextends: nothing\n' });
    expect(() => new PolicyStore(unknown)).toThrow(/x\.yaml:3: extends: unknown template "nothing"/);
    const misnamed = tree({ 'templates/base.yaml': BASE, 'templates/other.yaml': '# a comment\nname: another\n' });
    try {
      new PolicyStore(misnamed);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(YamlFileError);
      expect((err as Error).message).toContain('other.yaml:2: name: must equal the file name "other"');
    }
  });
});

describe('shipped templates', () => {
  const store = new PolicyStore(join(REPO_ROOT, 'policies'));
  const decide = (name: string, tool: string, args: Record<string, unknown>) => evaluatePolicy(store.get(name) as Policy, { name: tool, arguments: args }).action;

  it('strict: every shell command and every write needs approval, reads are free', () => {
    expect(decide('strict', 'shell', { command: 'ls' })).toBe('approve');
    expect(decide('strict', 'shell', { command: 'git clone https://github.com/x/y' })).toBe('approve');
    expect(decide('strict', 'write_file', { path: 'a', content: 'x' })).toBe('approve');
    expect(decide('strict', 'read_file', { path: 'a' })).toBe('allow');
  });

  it('standard: destructive or network commands need two, workspace files are free', () => {
    expect(decide('standard', 'shell', { command: 'ls -la' })).toBe('allow');
    expect(decide('standard', 'shell', { command: '/bin/rm -rf /' })).toBe('approve');
    expect(decide('standard', 'shell', { command: 'curl https://example.com' })).toBe('approve');
    expect(decide('standard', 'write_file', { path: 'a', content: 'x' })).toBe('allow');
  });

  it('permissive: a short deny list, everything else runs', () => {
    expect(decide('permissive', 'shell', { command: 'rm -rf build' })).toBe('allow');
    expect(decide('permissive', 'shell', { command: 'sudo su' })).toBe('deny');
    expect(decide('permissive', 'shell', { command: ':(){ :|:& };:' })).toBe('deny');
  });
});

describe('host patterns', () => {
  it('finds the hosts a command names', () => {
    expect(hostsIn('curl -s https://api.github.com/repos && git clone git@gitlab.com:x/y.git && wget http://user:pw@Files.Example.org:8080/a')).toEqual([
      'api.github.com',
      'files.example.org',
      'gitlab.com',
    ]);
    expect(hostsIn('echo hello')).toEqual([]);
  });

  it('matches a rule on a host glob', () => {
    const root = tree({
      'templates/net.yaml': [
        'name: net',
        'rules:',
        '  - { id: github, tool: shell, match: { host: "*.github.com" }, action: allow }',
        '  - { id: other-host, tool: shell, match: { host: "*" }, action: approve }',
        '  - { id: local, tool: shell, action: allow }',
        '',
      ].join('\n'),
    });
    const net = new PolicyStore(root).get('net') as Policy;
    const rule = (command: string) => evaluatePolicy(net, { name: 'shell', arguments: { command } }).ruleId;
    expect(rule('curl https://api.github.com/x')).toBe('github');
    expect(rule('curl https://evil.com/x')).toBe('other-host');
    expect(rule('ls')).toBe('local');
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { structuredDiff, specYaml, unifiedDiff } from '../../agents/diff.js';
import { agentSpecSchema } from '../../agents/schema.js';
import { loadAgentTemplates, parseAgentTemplate } from '../../agents/templates.js';
import { REPO_ROOT } from '../../config/index.js';
import { YamlFileError } from '../../config/yaml.js';
import { PolicyStore } from '../../policies/load.js';

describe('agent templates', () => {
  const templates = loadAgentTemplates();

  it('ships the six agents, each under a policy that exists and offering only tools it needs', () => {
    expect([...templates.keys()].sort()).toEqual(['ci-fixer', 'code-reviewer', 'data-analyst', 'ops-runbook', 'research-assistant', 'support-drafter']);
    const store = new PolicyStore(join(REPO_ROOT, 'policies'));
    for (const t of templates.values()) expect(store.get(t.spec.policy), t.name).toBeDefined();
    const get = (name: string) => templates.get(name)?.spec;
    expect(get('code-reviewer')?.tools).toEqual(['read_file', 'list_files']);
    expect(get('support-drafter')?.tools).toEqual([]);
    expect(get('ops-runbook')?.policy).toBe('strict');
    expect(get('research-assistant')?.network.allow.length).toBeGreaterThan(0);
    expect(get('research-assistant')?.tools).not.toContain('write_file');
    for (const name of ['ci-fixer', 'data-analyst', 'code-reviewer', 'ops-runbook']) expect(get(name)?.network.allow, name).toEqual([]);
  });

  it('reports a bad template with its file, line and path', () => {
    const text = 'name: broken\ntitle: Broken\ndescription: x\nspec:\n  systemPrompt: hi\n  tools: [shell, teleport]\n  policy: standard\n  colour: red\n';
    let error: unknown;
    try {
      parseAgentTemplate(text, 'broken.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(YamlFileError);
    expect((error as Error).message).toContain('broken.yaml:6: spec.tools.1');
    expect((error as Error).message).toContain('broken.yaml:8: spec.colour: unknown key');
  });

  it('refuses a template whose name is not its file name, and YAML that does not parse, with the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-templates-'));
    writeFileSync(join(dir, 'one.yaml'), 'name: two\ntitle: T\ndescription: d\nspec: { systemPrompt: p, tools: [], policy: strict }\n');
    expect(() => loadAgentTemplates(dir)).toThrow(/one\.yaml:1: name: must equal the file name "one"/);
    expect(() => parseAgentTemplate('name: x\nspec: [\n', 'bad.yaml')).toThrow(/bad\.yaml:\d+:/);
  });
});

describe('agent version diff', () => {
  const a = agentSpecSchema.parse({ systemPrompt: 'line one\nline two\nline three', tools: ['read_file'], policy: 'standard', limits: { maxSteps: 5 } });
  const b = agentSpecSchema.parse({ systemPrompt: 'line one\nline 2\nline three', tools: ['read_file', 'shell'], policy: 'strict', limits: { maxSteps: 5, maxCostUsd: 1 } });

  it('lists fields added, removed and changed, with list entries that came and went', () => {
    expect(structuredDiff(a, b)).toEqual([
      { path: 'limits.maxCostUsd', change: 'added', to: 1 },
      { path: 'policy', change: 'changed', from: 'standard', to: 'strict' },
      { path: 'systemPrompt', change: 'changed' },
      { path: 'tools', change: 'changed', from: ['read_file'], to: ['read_file', 'shell'], added: ['shell'], removed: [] },
    ]);
    expect(structuredDiff(b, a)[0]).toEqual({ path: 'limits.maxCostUsd', change: 'removed', from: 1 });
    expect(structuredDiff(a, a)).toEqual([]);
  });

  it('shows the changed prompt line in a unified diff, and the YAML too', () => {
    const prompt = unifiedDiff('reviewer/systemPrompt', 'v1', 'v2', a.systemPrompt, b.systemPrompt);
    expect(prompt).toContain('--- reviewer/systemPrompt@v1');
    expect(prompt).toContain('\n-line two\n+line 2\n');
    const yaml = unifiedDiff('reviewer.yaml', 'v1', 'v2', specYaml(a), specYaml(b));
    expect(yaml).toContain('\n-policy: standard\n+policy: strict\n');
  });
});

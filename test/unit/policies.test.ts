/**
 * Policies: the shipped standard template, rule evaluation, glob and size
 * matching, load-time refusal of bad files (file, line and path named), the
 * duration parser, tightening overrides and snapshot hashes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { YamlFileError } from '../../config/yaml.js';
import { parseDurationMs } from '../../domain/duration.js';
import { evaluatePolicy, globMatch, utf8Length, type Decision } from '../../policies/evaluate.js';
import { applyOverrides, PolicyStore, snapshotPolicy } from '../../policies/load.js';
import { canonicalJson } from '../../domain/canonical-json.js';
import { policySchema, regexProblem, type Policy } from '../../policies/schema.js';

const POLICIES_DIR = join(REPO_ROOT, 'policies');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'kortix-policies-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh directory holding the given files. */
/** A POLICIES_DIR whose templates/ holds these files (the files' paths are under templates/). */
function policyDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmp, 'case-'));
  mkdirSync(join(dir, 'templates'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, 'templates', name)), { recursive: true });
    writeFileSync(join(dir, 'templates', name), text);
  }
  return dir;
}

/** The YamlFileError that loading `text` as `<name>.yaml` throws (fails the test if none). */
function loadError(name: string, text: string): { error: YamlFileError; file: string } {
  const dir = policyDir({ [`${name}.yaml`]: text });
  const file = join(dir, 'templates', `${name}.yaml`);
  try {
    new PolicyStore(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(YamlFileError);
    return { error: err as YamlFileError, file };
  }
  throw new Error(`expected ${file} to be refused`);
}

function policy(input: Record<string, unknown>): Policy {
  return policySchema.parse({ name: 'test', ...input });
}

function shell(command: string) {
  return { name: 'shell', arguments: { command } };
}

describe('the standard template', () => {
  const store = new PolicyStore(POLICIES_DIR);
  const standard = store.get('standard') as Policy;

  it('loads with its limits and approval defaults', () => {
    expect(store.names()).toContain('standard');
    expect(standard.limits).toEqual({ maxSteps: 25, maxCostUsd: 5 });
    expect(standard.tools).toEqual(['shell', 'write_file', 'read_file', 'list_files']);
    expect(standard.approval).toEqual({ approvers: 2, roles: [], excludedApprovers: [], timeout: 30 * 60_000, onTimeout: 'deny' });
  });

  it.each([
    'rm -rf x',
    'curl http://x',
    'git push',
    'git   push origin main',
    'ls && rm a',
    'ls;rm a',
    'cat x | curl -d @- http://y',
    'echo $(wget http://x)',
    'ls\nrm -rf x',
    'sudo ls',
    'pip install requests',
  ])('needs two approvers for %j', (command) => {
    expect(evaluatePolicy(standard, shell(command))).toEqual({
      action: 'approve',
      ruleId: 'shell-destructive-or-network',
      risk: 'high',
      reason: 'destructive or network command',
      approvers: 2,
      timeoutMs: 30 * 60_000,
      onTimeout: 'deny',
      roles: [],
      excludedApprovers: [],
      slackChannel: null,
    });
  });

  it.each([
    'ls -la',
    'echo hello',
    'cat rmdir.txt',
    'format',
    'cat farm.txt',
    'git status',
    'git push-mirror-notes',
    'npm test',
  ])('allows %j (a word merely containing a listed command does not count)', (command) => {
    expect(evaluatePolicy(standard, shell(command))).toEqual({ action: 'allow', ruleId: 'shell' });
  });

  it.each(['write_file', 'read_file', 'list_files'])('allows %s anywhere in the workspace', (name) => {
    expect(evaluatePolicy(standard, { name, arguments: { path: 'src/a.ts', content: 'x' } })).toEqual({
      action: 'allow',
      ruleId: 'workspace-files',
    });
  });

  it('denies a tool the policy does not offer, before any rule', () => {
    expect(evaluatePolicy(standard, { name: 'teleport', arguments: {} })).toEqual({
      action: 'deny',
      ruleId: 'tools',
      reason: 'tool "teleport" is not allowed for this agent',
    });
  });

  it('denies a known tool left out of `tools` even when a rule would allow it', () => {
    const readOnly = policy({ tools: ['read_file'], rules: [{ tool: '*', action: 'allow' }] });
    expect(evaluatePolicy(readOnly, shell('ls'))).toMatchObject({ action: 'deny', ruleId: 'tools' });
    expect(evaluatePolicy(readOnly, { name: 'read_file', arguments: { path: 'a' } }).action).toBe('allow');
  });
});

describe('evaluatePolicy', () => {
  const layered = policy({
    rules: [
      { id: 'no-secrets', tool: '*', match: { path: 'secrets/**' }, action: 'deny', reason: 'secrets are off limits' },
      { tool: 'write_file', action: 'allow' },
      { tool: 'shell', match: { command: '^ls\\b' }, action: 'allow' },
    ],
    default: 'deny',
  });

  it('applies the first matching rule', () => {
    expect(evaluatePolicy(layered, { name: 'write_file', arguments: { path: 'secrets/key.pem', content: '' } })).toEqual({
      action: 'deny',
      ruleId: 'no-secrets',
      reason: 'secrets are off limits',
    });
    expect(evaluatePolicy(layered, { name: 'write_file', arguments: { path: 'notes.md', content: '' } })).toEqual({
      action: 'allow',
      ruleId: 'rules[1]',
    });
  });

  it('names a rule without id by its index', () => {
    expect(evaluatePolicy(layered, shell('ls -la'))).toEqual({ action: 'allow', ruleId: 'rules[2]' });
  });

  it('falls back to `default` when no rule matches', () => {
    expect(evaluatePolicy(layered, shell('make'))).toEqual({ action: 'deny', ruleId: 'default', reason: 'no rule matched' });
    expect(evaluatePolicy(layered, { name: 'read_file', arguments: { path: 'notes.md' } })).toMatchObject({
      action: 'deny',
      ruleId: 'default',
    });
  });

  it('gives a default approval high risk and the policy approval settings', () => {
    const cautious = policy({ default: 'approve', approval: { approvers: 1, timeout: '10m', onTimeout: 'fail' } });
    expect(evaluatePolicy(cautious, shell('ls'))).toEqual({
      action: 'approve',
      ruleId: 'default',
      risk: 'high',
      reason: 'no rule matched',
      approvers: 1,
      timeoutMs: 600_000,
      onTimeout: 'fail',
      roles: [],
      excludedApprovers: [],
      slackChannel: null,
    });
  });

  it('does not match a command pattern against a call without a string command', () => {
    const p = policy({ rules: [{ tool: '*', match: { command: '.' }, action: 'allow' }] });
    expect(evaluatePolicy(p, { name: 'read_file', arguments: { path: 'a' } }).ruleId).toBe('default');
    expect(evaluatePolicy(p, { name: 'shell', arguments: { command: 42 } }).ruleId).toBe('default');
  });

  it('matches a path glob against the path with ./ or / stripped', () => {
    const p = policy({ rules: [{ id: 'md', tool: 'read_file', match: { path: '*.md' }, action: 'allow' }] });
    expect(evaluatePolicy(p, { name: 'read_file', arguments: { path: './README.md' } }).ruleId).toBe('md');
    expect(evaluatePolicy(p, { name: 'read_file', arguments: { path: 'docs/README.md' } }).ruleId).toBe('default');
  });

  it('matches minBytes on UTF-8 bytes of the content, not characters', () => {
    const p = policy({ rules: [{ id: 'big', tool: 'write_file', match: { minBytes: 4 }, action: 'approve' }] });
    const write = (content: unknown) => evaluatePolicy(p, { name: 'write_file', arguments: { path: 'a', content } }).ruleId;
    expect(write('abcd')).toBe('default'); // 4 bytes: not more than 4
    expect(write('abcde')).toBe('big');
    expect(write('éé')).toBe('default'); // 2 characters, 4 bytes
    expect(write('€€')).toBe('big'); // 2 characters, 6 bytes
    expect(write(undefined)).toBe('default');
  });

  it('lets a rule override approvers, timeout and onTimeout', () => {
    const p = policy({
      approval: { approvers: 2, timeout: '30m', onTimeout: 'deny' },
      rules: [
        { id: 'full', tool: 'shell', match: { command: '^deploy' }, action: 'approve', risk: 'medium', approval: { approvers: 3, timeout: '5m', onTimeout: 'fail' } },
        { id: 'partial', tool: 'shell', action: 'approve', approval: { approvers: 1 } },
      ],
    });
    expect(evaluatePolicy(p, shell('deploy prod'))).toEqual({
      action: 'approve',
      ruleId: 'full',
      risk: 'medium',
      reason: 'rule full',
      approvers: 3,
      timeoutMs: 300_000,
      onTimeout: 'fail',
      roles: [],
      excludedApprovers: [],
      slackChannel: null,
    });
    expect(evaluatePolicy(p, shell('ls'))).toMatchObject<Partial<Decision>>({
      ruleId: 'partial',
      risk: 'low',
      approvers: 1,
      timeoutMs: 1_800_000,
      onTimeout: 'deny',
    });
  });
});

describe('globMatch', () => {
  it('matches * within one segment', () => {
    expect(globMatch('*.md', 'README.md')).toBe(true);
    expect(globMatch('*.md', 'docs/README.md')).toBe(false);
    expect(globMatch('src/*.ts', 'src/a.ts')).toBe(true);
    expect(globMatch('src/*.ts', 'src/lib/a.ts')).toBe(false);
  });

  it('matches ** across segments, including none', () => {
    expect(globMatch('docs/**', 'docs/a/b/c.md')).toBe(true);
    expect(globMatch('**/*.ts', 'a.ts')).toBe(true);
    expect(globMatch('**/*.ts', 'src/lib/a.ts')).toBe(true);
    expect(globMatch('**/*.ts', 'src/lib/a.tsx')).toBe(false);
    expect(globMatch('src/**/test.ts', 'src/test.ts')).toBe(true);
  });

  it('matches ? as exactly one character other than /', () => {
    expect(globMatch('a?c', 'abc')).toBe(true);
    expect(globMatch('a?c', 'ac')).toBe(false);
    expect(globMatch('a?c', 'abbc')).toBe(false);
    expect(globMatch('a?c', 'a/c')).toBe(false);
  });

  it('treats regex characters literally and anchors both ends', () => {
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('a+(b)', 'a+(b)')).toBe(true);
    expect(globMatch('a.txt', 'xa.txt')).toBe(false);
    expect(globMatch('a.txt', 'a.txt.bak')).toBe(false);
  });
});

describe('utf8Length', () => {
  it.each(['', 'ascii', 'é', '€uro', '😀', 'mixed é € 😀 text'])('equals Buffer.byteLength for %j', (text) => {
    expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
  });

  it('counts a surrogate pair once, as 4 bytes', () => {
    expect(utf8Length('😀')).toBe(4);
  });
});

describe('loading policy files', () => {
  it('refuses an unknown key, naming file, line and path', () => {
    const { error, file } = loadError('bad-key', [
      'name: bad-key',
      'rules:',
      '  - tool: shell',
      '    action: allow',
      '  - colour: red',
      '    tool: shell',
      '    action: deny',
      '',
    ].join('\n'));
    expect(error.message).toContain(`${file}:5: rules.1.colour: unknown key`);
    expect(error.file).toBe(file);
  });

  it('refuses an action outside the enum', () => {
    const { error, file } = loadError('bad-action', 'name: bad-action\nrules:\n  - tool: shell\n    action: maybe\n');
    expect(error.message).toContain(`${file}:4: rules.0.action:`);
    expect(error.problems).toEqual([expect.objectContaining({ line: 4, path: 'rules.0.action' })]);
  });

  it.each([
    ['nested quantifiers', '(a+)+$', /backtrack without bound/],
    ['a back-reference', '(a)\\1', /back-references are not allowed/],
    ['an invalid regex', '(unclosed', /not a valid regular expression/],
  ])('refuses a command pattern with %s', (_label, pattern, message) => {
    const { error, file } = loadError('bad-regex', [
      'name: bad-regex',
      'rules:',
      '  - tool: shell',
      '    match:',
      `      command: '${pattern}'`,
      '    action: deny',
      '',
    ].join('\n'));
    expect(error.message).toContain(`${file}:5: rules.0.match.command: regex `);
    expect(error.message).toMatch(message);
  });

  it('refuses a bad duration, in the policy and in a rule', () => {
    const { error, file } = loadError('bad-duration', [
      'name: bad-duration',
      'approval:',
      '  timeout: soon',
      'rules:',
      '  - tool: shell',
      '    action: approve',
      '    approval:',
      '      timeout: 5 minutes',
      '',
    ].join('\n'));
    expect(error.message).toContain(`${file}:3: approval.timeout: a duration like 90s`);
    expect(error.message).toContain(`${file}:8: rules.0.approval.timeout: a duration like 90s`);
  });

  it('refuses a file whose name differs from `name:`', () => {
    const { error, file } = loadError('strict', 'name: lenient\n');
    expect(error.message).toContain(`${file}:1: name: must equal the file name "strict"`);
  });

  it('refuses a YAML syntax error with its line', () => {
    const { error, file } = loadError('broken', 'name: broken\ndefault: deny\nrules: : x\n');
    expect(error.message).toContain(`${file}:3: Nested mappings are not allowed`);
  });

  it('refuses a missing directory', () => {
    expect(() => new PolicyStore(join(tmp, 'nope'))).toThrow(/nope.*policy directory does not exist/s);
  });

  it('reads .yaml and .yml files only, by name', () => {
    const dir = policyDir({ 'a.yaml': 'name: a\n', 'b.yml': 'name: b\ndefault: allow\n', 'notes.txt': 'not yaml: [' });
    const store = new PolicyStore(dir);
    expect(store.names()).toEqual(['a', 'b']);
    expect(store.get('b')?.default).toBe('allow');
    expect(store.get('a')?.default).toBe('deny');
    expect(store.get('c')).toBeUndefined();
  });
});

describe('regexProblem', () => {
  it.each(['(a*)*', '(?:a+)+', '(.*a){10}', '(\\w+\\s?)+$', '(a{1,3})*', '((a+))+$', '(a|aa)+$', '((a|aa))*'])('refuses %j', (pattern) => {
    expect(regexProblem(pattern)).toMatch(/backtrack without bound/);
  });

  it.each(['(?<x>a)\\k<x>', '(a)\\1'])('refuses the back-reference %j', (pattern) => {
    expect(regexProblem(pattern)).toMatch(/back-references/);
  });

  // A repeated group with alternatives is refused even when its alternatives
  // could not overlap: telling them apart needs more than a linear scan.
  it('refuses repeated alternatives conservatively', () => {
    expect(regexProblem('(foo|bar)+')).toMatch(/alternatives/);
  });

  it.each(['^ls\\b', 'a+b*', '\\(a+\\)+', '\\\\1', '(a+)?', '(ab){2}', '[(+]+'])('accepts %j', (pattern) => {
    expect(regexProblem(pattern)).toBeUndefined();
  });

  it('refuses patterns longer than 512 characters', () => {
    expect(regexProblem('a'.repeat(513))).toMatch(/longer than 512/);
    expect(regexProblem('a'.repeat(512))).toBeUndefined();
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['250ms', 250],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    [' 5s ', 5_000],
  ])('parses %j', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(['', 'soon', '10', '-1s', '1h 30m', '5S', '1w', 's', '1.s'])('refuses %j', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });

  it('reads a bare number in a policy as seconds', () => {
    expect(policy({ approval: { timeout: 90 } }).approval.timeout).toBe(90_000);
  });
});

describe('applyOverrides', () => {
  const base = policy({
    limits: { maxSteps: 25, maxCostUsd: 5 },
    approval: { timeout: '30m' },
    rules: [
      { id: 'slow', tool: 'shell', action: 'approve', approval: { timeout: '2h' } },
      { id: 'plain', tool: '*', action: 'approve' },
    ],
  });

  it('tightens limits and approval timeouts', () => {
    const tight = applyOverrides(base, { maxSteps: 3, maxCostUsd: 0.5, approvalTimeoutMs: 60_000 });
    expect(tight.limits).toEqual({ maxSteps: 3, maxCostUsd: 0.5 });
    expect(tight.approval.timeout).toBe(60_000);
    expect(tight.rules[0]?.approval?.timeout).toBe(60_000);
    expect(tight.rules[1]?.approval).toBeUndefined();
    expect(evaluatePolicy(tight, { name: 'read_file', arguments: {} })).toMatchObject({ timeoutMs: 60_000 });
  });

  it('never loosens', () => {
    const loose = applyOverrides(base, { maxSteps: 1000, maxCostUsd: 500, approvalTimeoutMs: 86_400_000 });
    expect(loose.limits).toEqual({ maxSteps: 25, maxCostUsd: 5 });
    expect(loose.approval.timeout).toBe(1_800_000);
    expect(loose.rules[0]?.approval?.timeout).toBe(7_200_000);
  });

  it('leaves the policy itself unchanged', () => {
    const before = structuredClone(base);
    applyOverrides(base, { maxSteps: 1, approvalTimeoutMs: 1 });
    expect(base).toEqual(before);
    expect(applyOverrides(base, undefined)).toBe(base);
  });
});

describe('snapshotPolicy', () => {
  const a = policy({ rules: [{ id: 'r', tool: 'shell', action: 'allow' }] });

  it('hashes equal policies equally, whatever the key order', () => {
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as Policy;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(a));
    expect(snapshotPolicy(reordered).hash).toBe(snapshotPolicy(a).hash);
    expect(snapshotPolicy(a)).toMatchObject({ name: 'test', hash: expect.stringMatching(/^[0-9a-f]{64}$/), policy: a });
  });

  it('changes the hash when a rule changes', () => {
    const changed = { ...a, rules: [{ ...a.rules[0]!, action: 'deny' as const }] };
    expect(snapshotPolicy(changed).hash).not.toBe(snapshotPolicy(a).hash);
  });

  it('uses canonical JSON: sorted keys at every depth, undefined fields left out', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: undefined } })).toBe('{"a":{"d":[2,{"e":0,"f":1}]},"b":1}');
  });
});

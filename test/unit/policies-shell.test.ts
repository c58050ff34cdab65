/**
 * The shell policy on a real parse: the evasions of the regex-only matching
 * (issue 10 §4) are gated under `standard`, plain commands keep their
 * decisions, and snapshots pinned before the parse (no `shellParse`) keep the
 * regex-only decisions they were recorded with, so their histories replay.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { evaluatePolicy } from '../../policies/evaluate.js';
import { PolicyStore } from '../../policies/load.js';
import { policySchema, type Policy } from '../../policies/schema.js';
import { analyzeShell, MAX_PARSED_LENGTH } from '../../policies/shell-parse.js';

const store = new PolicyStore(join(REPO_ROOT, 'policies'));
const standard = store.get('standard') as Policy;
const strict = store.get('strict') as Policy;

/** `standard` as it was pinned before the parse: no `shellParse` field, no class rule. */
const standardBefore = (() => {
  const { shellParse: _dropped, ...rest } = standard;
  return { ...rest, rules: standard.rules.filter((r) => r.match?.shellClass === undefined) } as Policy;
})();

const shell = (command: string) => ({ name: 'shell', arguments: { command } });

/** Evasions the regex-only standard policy allowed, with the class or rule that now gates each. */
const EVASIONS: ReadonlyArray<readonly [string, string]> = [
  // From the issue.
  ['r""m -rf /workspace', 'shell-destructive-or-network'],
  ['rm${IFS}-rf /workspace', 'shell-dynamic'],
  ['{rm,-rf,/workspace}', 'shell-dynamic'],
  [`python3 -c "__import__('shutil').rmtree('.')"`, 'shell-dynamic'],
  ['echo cm0gLXJmIC4= | base64 -d | bash', 'shell-dynamic'],
  ['./cleanup.sh', 'shell-dynamic'],
  ['bash cleanup.sh', 'shell-dynamic'],
  // Our own.
  ["'r'm -rf x", 'shell-destructive-or-network'],
  ['r\\m -rf x', 'shell-destructive-or-network'],
  ['c""url http://evil.example', 'shell-destructive-or-network'],
  ['/???/?m -rf x', 'shell-dynamic'],
  ['x=rm; $x -rf y', 'shell-dynamic'],
  ['$(printf r)m -rf y', 'shell-dynamic'],
  ['`printf r`m -rf y', 'shell-dynamic'],
  ["eval 'r''m -rf x'", 'shell-destructive-or-network'],
  ['eval "$(printf cm0=)"', 'shell-dynamic'],
  ['source ./env.sh', 'shell-dynamic'],
  ['. ./env.sh', 'shell-dynamic'],
  ["trap 'echo bye' EXIT", 'shell-dynamic'],
  ['PATH=.:$PATH ls', 'shell-dynamic'],
  ['env BASH_ENV=x.sh bash -c true', 'shell-dynamic'],
  ['sh -c "echo hi"', 'shell-dynamic'],
  ['env bash -ec "echo hi"', 'shell-dynamic'],
  ['nice -n 10 sh -c id', 'shell-dynamic'],
  ['xargs -I{} sh -c {}', 'shell-dynamic'],
  ['find . -name "*.tmp" -execdir sh -c "echo {}" \\;', 'shell-dynamic'],
  ["node -e \"require('fs').rmSync('.', {recursive: true})\"", 'shell-dynamic'],
  ['perl -e "unlink glob q(*)"', 'shell-dynamic'],
  ['ruby -e "puts 1"', 'shell-dynamic'],
  ["awk 'BEGIN { system(\"id\") }'", 'shell-dynamic'],
  ["sed 's/.*/id/e' notes.txt", 'shell-dynamic'],
  ['python3 - < payload.py', 'shell-dynamic'],
  ['python3 -m evil_module', 'shell-dynamic'],
  ['python3 build.py', 'shell-dynamic'],
  ['timeout 5 ./run.sh', 'shell-dynamic'],
  ['/workspace/bin/tool --flag', 'shell-dynamic'],
  ['ls | sh', 'shell-dynamic'],
  ['cat <(ls)', 'shell-dynamic'],
  ["$'\\x72\\x6d' -rf x", 'shell-dynamic'],
  ["echo 'unterminated", 'shell-dynamic'],
];

describe('the standard policy on a shell parse', () => {
  it.each(EVASIONS)('gates %j (rule %s), which the regex-only policy allowed', (command, ruleId) => {
    expect(evaluatePolicy(standardBefore, shell(command))).toEqual({ action: 'allow', ruleId: 'shell' });
    expect(evaluatePolicy(standard, shell(command))).toMatchObject({ action: 'approve', ruleId, risk: 'high', approvers: 2 });
  });

  it.each(['git push', 'ls && rm a', 'echo $(wget http://x)', 'sudo ls', 'pip install requests'])(
    'still gates %j with the destructive-or-network rule',
    (command) => {
      expect(evaluatePolicy(standard, shell(command))).toMatchObject({ action: 'approve', ruleId: 'shell-destructive-or-network' });
    },
  );

  it.each([
    'ls -la',
    'echo hello',
    'git status',
    'npm test',
    'cat *.txt',
    '[ -f x ] && cat x',
    "awk '{print $1}' data.txt",
    "sed -n '1,5p' notes.txt",
    'python3 --version',
    '/usr/bin/env ls',
    'echo step 0 >> /workspace/steps.log && wc -l < /workspace/steps.log',
    'echo "a * b"',
  ])('still allows the plain command %j', (command) => {
    expect(evaluatePolicy(standard, shell(command))).toEqual({ action: 'allow', ruleId: 'shell' });
  });

  it('gates the riskiest class with a high-risk approval under strict too', () => {
    expect(evaluatePolicy(strict, shell('bash -c id'))).toMatchObject({ action: 'approve', ruleId: 'shell-dynamic', risk: 'high' });
    expect(evaluatePolicy(strict, shell('ls'))).toMatchObject({ action: 'approve', ruleId: 'shell', risk: 'medium' });
  });

  it('lets a policy deny a class outright', () => {
    const p = policySchema.parse({
      name: 'no-dynamic',
      rules: [
        { id: 'no-inline', tool: 'shell', match: { shellClass: ['interpreter', 'unparseable'] }, action: 'deny', reason: 'no inline code' },
        { tool: 'shell', action: 'allow' },
      ],
    });
    expect(evaluatePolicy(p, shell('python3 -c 1'))).toEqual({ action: 'deny', ruleId: 'no-inline', reason: 'no inline code' });
    expect(evaluatePolicy(p, shell('./x.sh'))).toEqual({ action: 'allow', ruleId: 'rules[1]' });
  });

  it('matches a host glob on the unquoted words too', () => {
    const p = policySchema.parse({ name: 'hosts', rules: [{ id: 'evil', tool: 'shell', match: { host: 'evil.example' }, action: 'deny' }] });
    expect(evaluatePolicy(p, shell('curl "https://"evil.example/x')).ruleId).toBe('evil');
    expect(evaluatePolicy({ ...p, shellParse: false }, shell('curl "https://"evil.example/x')).ruleId).toBe('default');
  });

  it('refuses an unknown class when a policy is loaded', () => {
    const result = policySchema.safeParse({ name: 'x', rules: [{ tool: 'shell', match: { shellClass: ['sneaky'] }, action: 'deny' }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['rules', 0, 'match', 'shellClass', 0]);
  });
});

describe('snapshots pinned before the parse', () => {
  it('keep regex-only matching when `shellParse` is absent (their histories replay)', () => {
    const pinned = { ...standard } as Partial<Policy>;
    delete pinned.shellParse;
    // The class rule is in this snapshot, but command patterns see only the raw text.
    expect(evaluatePolicy(pinned as Policy, shell('r""m -rf x'))).toEqual({ action: 'allow', ruleId: 'shell' });
    expect(evaluatePolicy(standard, shell('r""m -rf x')).ruleId).toBe('shell-destructive-or-network');
  });

  it('new loads carry `shellParse: true`', () => {
    expect(standard.shellParse).toBe(true);
  });
});

describe('analyzeShell', () => {
  it('splits every simple command, nested ones included, with quotes removed', () => {
    expect(analyzeShell(`ls "a b" && echo $(c''at f) | grep 'x'`).commands).toEqual([
      ['ls', 'a b'],
      ['echo', '$(c\'\'at f)'],
      ['cat', 'f'],
      ['grep', 'x'],
    ]);
  });

  it('reads compound commands, functions and find -exec', () => {
    const { commands } = analyzeShell('if true; then f() { rm x; }; fi; for i in 1; do find . -exec rm {} +; done');
    expect(commands).toEqual(expect.arrayContaining([['rm', 'x'], ['rm', '{}']]));
  });

  it.each([
    ['eval ls', ['dynamic']],
    ['bash -c ls', ['interpreter']],
    ['bash run.sh', ['script']],
    ['$(x) && bash -c y && ./z', ['dynamic', 'interpreter', 'script']],
    ['ls', []],
  ])('classifies %j as %j', (command, classes) => {
    expect(analyzeShell(command).classes).toEqual(classes);
  });

  it('treats input too long to parse as unparseable', () => {
    expect(analyzeShell('a'.repeat(MAX_PARSED_LENGTH + 1))).toEqual({ commands: [], classes: ['unparseable'] });
  });

  it('is deterministic: the same command gives the same analysis', () => {
    const command = 'echo cm0= | base64 -d | bash; PATH=. ls';
    expect(analyzeShell(command)).toEqual(analyzeShell(command));
  });
});

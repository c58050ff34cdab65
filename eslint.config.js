// Lint: type-aware TypeScript rules everywhere; the determinism boundary is enforced on workflows/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', 'coverage/**', 'bench/results/**', 'web/dist/**', 'test-artifacts/**'] },
  // No lint rule is turned off in a comment: code that trips one is changed, or the rule here.
  { linterOptions: { noInlineConfig: true } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'sandbox/browser-page.js', 'temporal/workflow-thread-no-stack-traces.cjs', 'temporal/workflow-thread-lazy-stack-traces.cjs', 'bench/no-isolate-timeout.cjs', 'bench/workflow-thread-heap.cjs', 'temporal/bundle/shell-quote-word-loader.cjs', 'temporal/bundle/otel-context-loader.cjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Forgetting to await an activity or a Temporal API is a bug.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
      // A file a reader can hold in mind: past 500 lines (comments and blanks count, as they do to a reader) it splits by what it holds.
      'max-lines': ['error', { max: 500, skipBlankLines: false, skipComments: false }],
    },
  },
  {
    // Runs inside a web page (installed by sandbox/browser-driver.py), not in Node: the browser's globals.
    files: ['sandbox/browser-page.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    // CommonJS: preloads for node --require (the SDK's workflow threads, the throughput bench's worker process), webpack loaders.
    files: ['temporal/workflow-thread-no-stack-traces.cjs', 'temporal/workflow-thread-lazy-stack-traces.cjs', 'bench/no-isolate-timeout.cjs', 'bench/workflow-thread-heap.cjs', 'temporal/bundle/shell-quote-word-loader.cjs', 'temporal/bundle/otel-context-loader.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows are deterministic: no Node builtins.' })),
          patterns: [
            {
              group: ['../activities/*', '../db/*', '../router/*', '../api/*', '../observability/*', '../config/*'],
              allowTypeImports: true,
              message: 'Workflows import activities, db and services as types only (import type).',
            },
            { group: ['../sandbox/docker-host*', '../sandbox/exec-script*', 'dockerode', 'pg', 'kysely'], message: 'No side-effecting modules in workflows.' },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Use workflowNow() from workflows/clock.ts.' },
        { object: 'Math', property: 'random', message: 'Use uuid4() from @temporalio/workflow.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use workflowIso() from workflows/clock.ts.' },
        { selector: "CallExpression[callee.name='setTimeout']", message: 'Use sleep() or condition() from @temporalio/workflow.' },
      ],
    },
  },
  {
    files: ['workflows/clock.ts'],
    rules: { 'no-restricted-properties': 'off', 'no-restricted-syntax': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);

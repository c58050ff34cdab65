/**
 * The worker as the platform image runs it (Dockerfile, build stage): the
 * TypeScript its entry point reaches compiled to JavaScript by tsc with
 * deploy/image/tsconfig.json, the files the code reads at run time beside it,
 * run by plain node, no tsx loader. The bench's `--worker-build=compiled`
 * measures this shape: tsx keeps the transpiler and its output in the
 * worker's memory, which the image does not.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../config/index.js';

/** Top-level folders the image leaves out (Dockerfile: tests, benchmarks, deployment files, tools). */
const LEFT_OUT = new Set(['node_modules', 'test', 'bench', 'deploy', 'tools']);

export interface CompiledWorker {
  /** The entry point to run with node. */
  readonly script: string;
  readonly dir: string;
  remove(): void;
}

/** Compiles the worker into a temporary folder (~30 s on two cores). */
export function compileWorker(): CompiledWorker {
  const dir = mkdtempSync(join(tmpdir(), 'kortix-worker-build-'));
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'deploy/image/tsconfig.json', '--outDir', dir], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  // The non-TypeScript files of the shipped folders (policies, scenarios, sandbox scripts, preloads), as the image copies
  // them: the working tree's, new files not yet committed included (git's ignored ones left out).
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0');
  for (const file of files) {
    const top = file.split('/')[0] ?? '';
    // A file deleted in the working tree but still in git's index is not shipped either.
    if (!file.includes('/') || LEFT_OUT.has(top) || /\.tsx?$/.test(file) || !existsSync(join(REPO_ROOT, file))) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(REPO_ROOT, file), join(dir, file));
  }
  // package.json: "type": "module" for the compiled ESM; the installed modules, shared (the image prunes dev ones).
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { script: join(dir, 'temporal/worker-main.js'), dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

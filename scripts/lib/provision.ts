/**
 * Runs a script of scripts/provision/ (its progress goes to our stderr) and
 * returns the variables it exports (`export NAME='value'` lines on stdout).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { REPO_ROOT } from '../../config/index.js';

export function parseExports(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(line.trim());
    // The scripts quote with '\'' for a single quote inside a value.
    if (m?.[1] && m[2] !== undefined) vars[m[1]] = m[2].replaceAll(`'\\''`, `'`);
  }
  return vars;
}

export function provision(
  name: 'temporal' | 'temporal-server' | 'docker' | 'postgres' | 'prometheus' | 'ollama' | 's3',
  args: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, string>> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [resolve(REPO_ROOT, 'scripts/provision', `${name}.sh`), ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolvePromise(parseExports(out));
      else reject(new Error(`scripts/provision/${name}.sh ${args.join(' ')} failed with exit code ${code}`));
    });
  });
}

/**
 * `.data/dev-keys.env`, written by `make dev` (scripts/dev.ts): the demo
 * tenant's keys, and the settings a command in another shell needs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** The demo tenant's lines of the dev keys file (tenant, API URL, keys), if there is one; the settings are rewritten each start. */
export function readDevKeys(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => /^export (KORTIX_TENANT|KORTIX_API|\w+_KEY)=(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] as string, (m[2] as string).replace(/^'(.*)'$/, '$1')]),
  );
}

/**
 * Writes the keys and, rewritten on every start, the settings a command in another shell needs
 * (`npm run tenant`, `npm run migrate`, `npm run replay`): sourcing the file sets them, and
 * requireDatabaseUrl reads DATABASE_URL from it in dev when the variable is unset.
 */
export function writeDevKeys(
  file: string,
  keys: Record<string, string>,
  settings: Record<string, string | undefined>,
  temporalCliDir?: string,
): void {
  const all = { ...keys, ...Object.fromEntries(Object.entries(settings).filter((e): e is [string, string] => e[1] !== undefined)) };
  // Quoted when the value has characters a shell would read (a DATABASE_URL with ?a=b&c=d).
  const quote = (v: string) => (/^[\w@%+=:,./-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  const lines = Object.entries(all).map(([k, v]) => `export ${k}=${quote(v)}`);
  // The README's `temporal workflow show` after `source .data/dev-keys.env`, with a CLI that is not on PATH.
  if (temporalCliDir) lines.push(`export PATH=${quote(temporalCliDir)}:"$PATH"`);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}

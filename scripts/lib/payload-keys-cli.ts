/**
 * `npm run kortix -- keys ls [<tenant>] | rotate <tenant> | remove <tenant> <version>`: the payload keyring
 * file (PAYLOAD_CODEC_RING; outside production `.data/payload-keys.json`), edited where the processes read it.
 * Runs next to the file, not over the API: whoever holds the file holds the keys.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadConfig } from '../../config/index.js';
import { payloadKeysFile } from '../../temporal/codec/from-config.js';
import { KeyringError, parseKeyringFile, removeKeyFromFile, rotateKeyInFile } from '../../temporal/codec/keyring.js';

export const KEYS_USAGE = 'usage: kortix keys ls [<tenant>] | rotate <tenant> | remove <tenant> <version>';

/** Returns the lines to print; throws KeyringError (a message for the user) on bad input. */
export function keysCommand(args: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const config = loadConfig(env);
  const file = payloadKeysFile(config);
  const [command, tenant, version] = args;
  // Outside production, version 1 of every tenant is the derived dev key: a rotation starts at 2.
  const minVersion = config.KORTIX_ENV === 'prod' ? 1 : 2;
  if (command === 'rotate' && tenant) {
    const key = rotateKeyInFile(file, tenant, { minVersion });
    return [`${tenant}: new payloads use version ${key.version} (${file}); older versions still decode`];
  }
  if (command === 'remove' && tenant && version && /^\d+$/.test(version)) {
    removeKeyFromFile(file, tenant, Number(version));
    return [`${tenant}: version ${version} removed from ${file}; payloads written with it no longer decode`];
  }
  if (command === 'ls') {
    const data = existsSync(file) ? parseKeyringFile(readFileSync(file, 'utf8'), file) : { tenants: {} };
    const lines = Object.entries(data.tenants)
      .filter(([t]) => !tenant || t === tenant)
      .map(([t, entries]) => `${t}\t${entries.map((e) => `v${e.version}${e.created ? ` (${e.created})` : ''}`).join(', ')}`);
    const dev = config.KORTIX_ENV === 'prod' ? [] : ['(every tenant also has v1, the derived dev key: not in production)'];
    return [`# ${file}`, ...lines, ...dev];
  }
  throw new KeyringError(KEYS_USAGE);
}

/**
 * Secrets as files: `<dir>/<tenant>/<name>`, one file per secret, its whole
 * content the value (one trailing newline dropped). A file that is a symbolic
 * link, or whose real path leaves the tenant's folder, is refused: a link in
 * the directory must not read another tenant's secret or any other file.
 */
import { lstat, readFile, readdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { SecretAccessError, SecretNotFoundError, SecretProviderError, checkLookup, existsByGet, type SecretProvider, type SecretValue } from './provider.js';

const MAX_BYTES = 64 * 1024;

export class FileSecrets implements SecretProvider {
  readonly kind = 'files';
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async get(tenantId: string, name: string, options?: { version?: string | undefined }): Promise<SecretValue> {
    checkLookup(tenantId, name);
    const tenantDir = join(this.#dir, tenantId);
    const file = join(tenantDir, name);
    let info;
    try {
      info = await lstat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new SecretNotFoundError(`no secret ${name} (no file ${file})`);
      }
      throw new SecretProviderError(`cannot read secret ${name}: ${(err as Error).message}`);
    }
    if (info.isSymbolicLink()) throw new SecretAccessError(`secret ${name} is a symbolic link (${file}): links are refused`);
    if (!info.isFile()) throw new SecretNotFoundError(`secret ${name} is not a file (${file})`);
    if (info.size > MAX_BYTES) throw new SecretAccessError(`secret ${name} is ${info.size} bytes; the most is ${MAX_BYTES}`);
    // A folder on the way that is a link (the tenant's folder itself) must not lead elsewhere either.
    const [realFile, realRoot] = await Promise.all([realpath(file), realpath(this.#dir)]);
    if (!realFile.startsWith(`${realRoot}${sep}${tenantId}${sep}`)) throw new SecretAccessError(`secret ${name} resolves outside its tenant's folder`);
    const version = String(Math.floor(info.mtimeMs));
    if (options?.version !== undefined && options.version !== version) throw new SecretNotFoundError(`secret ${name} has no version ${options.version} (files keep only the current one)`);
    const value = (await readFile(realFile, 'utf8')).replace(/\r?\n$/, '');
    return { value, version };
  }

  exists(tenantId: string, name: string): Promise<boolean> {
    return existsByGet(() => this.get(tenantId, name));
  }


  async list(tenantId: string): Promise<string[]> {
    checkLookup(tenantId, 'x');
    try {
      const entries = await readdir(join(this.#dir, tenantId), { withFileTypes: true });
      return entries.filter((e) => e.isFile()).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SecretProviderError(`cannot list the secrets of ${tenantId}: ${(err as Error).message}`);
    }
  }
}

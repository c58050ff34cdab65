/**
 * The running model policy. Loaded once at start (a bad file stops the
 * process with file:line: path); in dev it is reloaded when the file changes,
 * and an edit that does not validate is logged and the running policy kept.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { loadModelPolicy, type PolicyEnv, type ResolvedModelPolicy } from './model-policy.js';

/** Where the router reads its policy on every call; `version` changes with each reload. */
export interface PolicySource {
  readonly current: ResolvedModelPolicy;
  readonly version: number;
}

/** A policy that never changes (tests, benchmarks). */
export function staticPolicy(policy: ResolvedModelPolicy): PolicySource {
  return { current: policy, version: 1 };
}

function digest(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}

/** A policy file, its running version, and an optional watcher. */
export class ModelPolicyStore implements PolicySource {
  readonly file: string;
  readonly #logger: Logger | undefined;
  readonly #env: PolicyEnv;
  #current: ResolvedModelPolicy;
  #version = 1;
  #digest: string | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** Loads `file`; throws YamlFileError (file:line: path) when it is not valid. `env` fills models' `modelEnv`. */
  constructor(file: string, logger?: Logger, env: PolicyEnv = {}) {
    this.file = resolve(file);
    this.#logger = logger;
    this.#env = env;
    this.#digest = digest(this.file);
    this.#current = loadModelPolicy(this.file, env);
  }

  get current(): ResolvedModelPolicy {
    return this.#current;
  }

  get version(): number {
    return this.#version;
  }

  /** Reloads the file; a fault is logged and the running policy kept. True when a new policy runs. */
  reload(): boolean {
    const next = digest(this.file);
    if (next !== undefined && next === this.#digest) return false;
    try {
      this.#current = loadModelPolicy(this.file, this.#env);
      this.#digest = next;
      this.#version += 1;
      this.#logger?.info('model policy reloaded', { file: this.file, version: this.#version });
      return true;
    } catch (err) {
      this.#digest = next;
      this.#logger?.error('model policy edit refused; the running policy stays', { file: this.file, version: this.#version, error: (err as Error).message });
      return false;
    }
  }

  /**
   * Watches the file's folder (editors replace files by rename) and reloads
   * `debounceMs` after the last change. Returns a function that stops watching.
   */
  watch(debounceMs = 100): () => void {
    if (this.#watcher) return () => this.close();
    const name = basename(this.file);
    this.#watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.reload(), debounceMs);
    });
    this.#watcher.on('error', (err) => this.#logger?.error('model policy watch failed', { file: this.file, error: err.message }));
    return () => this.close();
  }

  /** Stops watching. */
  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/**
 * Loads policies from the policies directory and pins them into a snapshot
 * (policy + sha256 of its canonical JSON) that goes into the workflow input,
 * so that a session's rules never change under it and replay is exact.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadYamlFile, YamlFileError } from '../config/yaml.js';
import { policySchema, type Policy } from './schema.js';

/** What a workflow carries: the policy as it was when the session started. */
export interface PolicySnapshot {
  readonly name: string;
  readonly hash: string;
  readonly policy: Policy;
}

/** Tightening a session may ask for at start: never looser than the policy. */
export interface PolicyOverrides {
  readonly maxSteps?: number | undefined;
  readonly maxCostUsd?: number | undefined;
  readonly approvalTimeoutMs?: number | undefined;
}

/** JSON with object keys sorted, so equal policies hash equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function snapshotPolicy(policy: Policy): PolicySnapshot {
  const hash = createHash('sha256').update(canonicalJson(policy)).digest('hex');
  return { name: policy.name, hash, policy };
}

/** Applies overrides that can only make the policy stricter. */
export function applyOverrides(policy: Policy, overrides: PolicyOverrides | undefined): Policy {
  if (!overrides) return policy;
  const min = (a: number, b: number | undefined) => (b === undefined ? a : Math.min(a, b));
  const timeout = overrides.approvalTimeoutMs;
  return {
    ...policy,
    limits: {
      maxSteps: min(policy.limits.maxSteps, overrides.maxSteps),
      maxCostUsd: min(policy.limits.maxCostUsd, overrides.maxCostUsd),
    },
    approval: { ...policy.approval, timeout: min(policy.approval.timeout, timeout) },
    rules: policy.rules.map((rule) =>
      rule.approval?.timeout !== undefined && timeout !== undefined
        ? { ...rule, approval: { ...rule.approval, timeout: Math.min(rule.approval.timeout, timeout) } }
        : rule,
    ),
  };
}

/** The policies in a directory, by name; every file is validated (a bad one throws naming file and line). */
export class PolicyStore {
  readonly #policies = new Map<string, Policy>();

  constructor(readonly dir: string) {
    if (!existsSync(dir)) {
      throw new YamlFileError(dir, [{ line: 0, path: '', message: 'policy directory does not exist (POLICIES_DIR)' }]);
    }
    for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
      const path = join(dir, file);
      const policy = loadYamlFile(path, policySchema);
      const expected = file.replace(/\.ya?ml$/, '');
      if (policy.name !== expected) {
        throw new YamlFileError(path, [{ line: 1, path: 'name', message: `must equal the file name "${expected}"` }]);
      }
      this.#policies.set(policy.name, policy);
    }
  }

  names(): string[] {
    return [...this.#policies.keys()];
  }

  get(name: string): Policy | undefined {
    return this.#policies.get(name);
  }
}

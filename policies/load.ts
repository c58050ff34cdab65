/**
 * Loads policies from the policies directory and pins them into a snapshot
 * (policy + sha256 of its canonical JSON) that goes into the workflow input,
 * so that a session's rules never change under it and replay is exact.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readYamlFile, readYamlText, YamlFileError, type YamlDocument } from '../config/yaml.js';
import { policySchema, type Policy } from './schema.js';
import { canonicalJson } from '../domain/canonical-json.js';

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

/** A policy file read but not yet resolved against its template. */
interface RawPolicy {
  readonly doc: YamlDocument;
  readonly name: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A policy that `extends` a template: objects merge key by key (the policy
 * wins), lists are replaced, except `rules`, where the policy's rules come
 * first and the template's follow (first match wins, so the policy's win).
 */
export function mergePolicy(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    if (key === 'rules' && Array.isArray(value) && Array.isArray(current)) out[key] = [...value, ...current];
    else if (isObject(value) && isObject(current)) out[key] = mergePolicy(current, value);
    else out[key] = value;
  }
  return out;
}

/**
 * The policies of a directory: templates under `templates/` (`standard.yaml`),
 * a tenant's own under `tenants/<tenant id>/`. A tenant's policy may
 * `extends: <template>` and override parts. Every file is validated at
 * construction; a bad one throws naming the file, the line and the path.
 */
export class PolicyStore {
  readonly #templates = new Map<string, Policy>();
  readonly #tenants = new Map<string, Map<string, Policy>>();
  /** Templates as read, for resolving policies saved through the API (parseTenantPolicy). */
  readonly #rawTemplates: Map<string, RawPolicy>;
  /** The file each policy came from (`<tenant>/<name>` for a tenant's), to show its YAML. */
  readonly #files = new Map<string, string>();

  constructor(readonly dir: string) {
    if (!existsSync(dir)) {
      throw new YamlFileError(dir, [{ line: 0, path: '', message: 'policy directory does not exist (POLICIES_DIR)' }]);
    }
    const templatesDir = join(dir, 'templates');
    if (!existsSync(templatesDir)) {
      throw new YamlFileError(templatesDir, [{ line: 0, path: '', message: 'no templates directory in POLICIES_DIR' }]);
    }
    const templates = this.#readDir(templatesDir);
    this.#rawTemplates = templates;
    for (const raw of templates.values()) {
      this.#templates.set(raw.name, this.#resolve(raw, templates, []));
      this.#files.set(raw.name, raw.doc.file);
    }
    const tenantsDir = join(dir, 'tenants');
    if (existsSync(tenantsDir)) {
      for (const tenant of readdirSync(tenantsDir).sort()) {
        const path = join(tenantsDir, tenant);
        if (!statSync(path).isDirectory()) continue;
        const own = this.#readDir(path);
        const resolved = new Map<string, Policy>();
        for (const raw of own.values()) {
          resolved.set(raw.name, this.#resolve(raw, templates, []));
          this.#files.set(`${tenant}/${raw.name}`, raw.doc.file);
        }
        this.#tenants.set(tenant, resolved);
      }
    }
  }

  #readDir(dir: string): Map<string, RawPolicy> {
    const out = new Map<string, RawPolicy>();
    for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
      const doc = readYamlFile(join(dir, file));
      const expected = file.replace(/\.ya?ml$/, '');
      const name = isObject(doc.value) ? doc.value.name : undefined;
      if (name !== expected) {
        throw new YamlFileError(doc.file, [{ line: doc.lineOf(['name']) || 1, path: 'name', message: `must equal the file name "${expected}"` }]);
      }
      out.set(expected, { doc, name: expected });
    }
    return out;
  }

  /** Merges a policy over its template chain and validates the result, reporting faults in the file that wrote them. */
  #resolve(raw: RawPolicy, templates: Map<string, RawPolicy>, seen: string[]): Policy {
    const own = raw.doc.value as Record<string, unknown>;
    const chain: YamlDocument[] = [raw.doc];
    let merged = own;
    let parentName = own.extends;
    const visited = [...seen, raw.doc.file];
    while (parentName !== undefined) {
      const parent = typeof parentName === 'string' ? templates.get(parentName) : undefined;
      if (!parent || visited.includes(parent.doc.file)) {
        const why = parent ? 'extends itself (a cycle)' : `unknown template "${String(parentName)}"`;
        throw new YamlFileError(raw.doc.file, [{ line: raw.doc.lineOf(['extends']) || 1, path: 'extends', message: why }]);
      }
      visited.push(parent.doc.file);
      chain.push(parent.doc);
      const parentValue = parent.doc.value as Record<string, unknown>;
      merged = mergePolicy({ ...parentValue, extends: undefined }, merged);
      parentName = parentValue.extends;
    }
    if (own.extends === undefined) delete merged.extends;
    const result = policySchema.safeParse(merged);
    if (!result.success) {
      // Each fault is reported in the first file of the chain that writes its path.
      const problems = result.error.issues.map((issue) => {
        const path = issue.code === 'unrecognized_keys' ? [...issue.path, ...issue.keys.slice(0, 1)] : issue.path;
        const doc = chain.find((d) => d.has(path)) ?? raw.doc;
        return { file: doc.file, line: doc.lineOf(path, issue.code === 'unrecognized_keys') || 1, path: path.map(String).join('.'), message: issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message };
      });
      const file = problems[0]?.file ?? raw.doc.file;
      throw new YamlFileError(file, problems.filter((p) => p.file === file));
    }
    return result.data;
  }

  /** Template names (and, with a tenant, that tenant's own policy names first). */
  names(tenantId?: string): string[] {
    const own = tenantId ? [...(this.#tenants.get(tenantId)?.keys() ?? [])] : [];
    return [...new Set([...own, ...this.#templates.keys()])];
  }

  /** The file a template (or, with a tenant, that tenant's file policy) was read from. */
  fileOf(name: string, tenantId?: string): { file: string; template: boolean } | undefined {
    const own = tenantId ? this.#files.get(`${tenantId}/${name}`) : undefined;
    if (own) return { file: own, template: false };
    const template = this.#templates.has(name) ? this.#files.get(name) : undefined;
    return template ? { file: template, template: true } : undefined;
  }

  /**
   * Validates a tenant policy written elsewhere (saved through the API) the
   * way a file under tenants/ is: it may extend a template, and faults throw
   * YamlFileError naming `label`, the line and the path.
   */
  parseTenantPolicy(text: string, label: string): Policy {
    const doc = readYamlText(text, label);
    const name = isObject(doc.value) ? doc.value.name : undefined;
    if (typeof name !== 'string') {
      throw new YamlFileError(label, [{ line: doc.lineOf(['name']) || 1, path: 'name', message: 'a policy needs a name' }]);
    }
    return this.#resolve({ doc, name }, this.#rawTemplates, []);
  }

  /** A tenant's own policy of that name, else the template. */
  get(name: string, tenantId?: string): Policy | undefined {
    return (tenantId ? this.#tenants.get(tenantId)?.get(name) : undefined) ?? this.#templates.get(name);
  }
}

/**
 * `/v1/policies`: the repo's templates (strict, standard, permissive), a
 * tenant's file policies (POLICIES_DIR/tenants/<id>/) and its own policies
 * saved through the API as immutable versions (db/policy-versions.ts);
 * diffs between any two versions and a playground that runs the workflow's
 * own evaluatePolicy. Another tenant's policy is a 404.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { z } from 'zod';
import { YamlFileError } from '../../config/yaml.js';
import type { Db } from '../../db/client.js';
import {
  findPolicyVersion,
  findVersionBySha,
  listPolicyVersions,
  listTenantPolicies,
  parseVersionRef,
  savePolicyVersion,
  VERSION_REF_PATTERN,
  type PolicyVersion,
  type VersionLookup,
  type VersionRef,
} from '../../db/policy-versions.js';
import { tenantPolicySettings } from '../../db/tenant-policy-settings.js';
import { unifiedDiff } from '../../agents/diff.js';
import { diffPolicies } from '../../policies/diff.js';
import { evaluatePolicy } from '../../policies/evaluate.js';
import { snapshotPolicy, type PolicyStore } from '../../policies/load.js';
import type { Policy } from '../../policies/schema.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { parseBody, parseParams, parseQuery, text } from '../validation.js';

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const policyNameSchema = z.string().regex(NAME, 'a policy name: lowercase letters, digits, _ and -');
/** What POST /v1/sessions and the playground accept: `name`, `name@latest`, `name@2` or `name@<sha prefix>`. */
export const policyRefSchema = z
  .string()
  .max(200)
  .refine((ref) => {
    const [name = '', version, ...rest] = ref.split('@');
    return NAME.test(name) && rest.length === 0 && (version === undefined || VERSION_REF_PATTERN.test(version));
  }, 'a policy name, optionally @latest, @<version number> or @<sha256 prefix of 7+ hex digits>');
const versionRefSchema = z.string().regex(VERSION_REF_PATTERN, 'latest, a version number or a sha256 prefix (7+ hex digits)');

export const policyParams = z.object({ name: policyNameSchema });
export const policyVersionParams = z.object({ name: policyNameSchema, ref: versionRefSchema });
export const listPoliciesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: policyNameSchema.optional().describe('the nextCursor of the previous page'),
});
export const listVersionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().regex(/^[1-9][0-9]{0,5}$/, 'the nextCursor of the previous page').optional(),
});
export const diffQuery = z.object({ from: versionRefSchema, to: versionRefSchema });
export const savePolicyBody = z
  .object({
    yaml: text().min(1).max(200_000).describe('the policy as YAML: `name`, optionally `extends: strict|standard|permissive`, and the policy fields'),
    changeNote: text().max(2_000).optional(),
  })
  .strict();
export const evaluateBody = z
  .object({
    policy: policyRefSchema.optional(),
    policyVersion: z.string().regex(/^[0-9a-f]{7,64}$/, 'a sha256 prefix (7+ hex digits)').optional(),
    tool: z.string().min(1).max(100),
    arguments: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .refine((b) => (b.policy === undefined) !== (b.policyVersion === undefined), { message: 'name exactly one of policy and policyVersion', path: ['policy'] });

const policyJson = z.record(z.string(), z.unknown()).describe('the resolved policy (template merged in, durations in ms)');
export const policyVersionSchema = z.object({
  name: z.string(),
  source: z.enum(['template', 'file', 'tenant']).describe('a repo template, a file under POLICIES_DIR/tenants/<id>/, or saved through this API'),
  version: z.number().int().nullable().describe('null for templates and files, which have one version'),
  sha256: z.string().describe('sha256 of the canonical JSON of the resolved policy: the hash a session pins'),
  extends: z.string().nullable(),
  description: z.string().nullable(),
  author: z.string().nullable(),
  changeNote: z.string().nullable(),
  createdAt: z.string().nullable(),
  yaml: z.string(),
  policy: policyJson,
});
const pageOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.string().nullable() });
const savedSchema = policyVersionSchema.extend({ created: z.boolean().describe('false: identical content, the existing version') });
const ruleDiffSchema = z.object({
  id: z.string(),
  change: z.enum(['added', 'removed', 'changed', 'moved']),
  fields: z.array(z.string()).optional(),
  position: z.object({ from: z.number().int().optional(), to: z.number().int().optional() }),
  from: z.record(z.string(), z.unknown()).optional(),
  to: z.record(z.string(), z.unknown()).optional(),
});
const valueChangeSchema = z.object({ path: z.string(), from: z.unknown(), to: z.unknown() });
const listChangeSchema = z.object({ added: z.array(z.string()), removed: z.array(z.string()) });
export const policyDiffSchema = z.object({
  name: z.string(),
  from: policyVersionSchema.omit({ yaml: true, policy: true }),
  to: policyVersionSchema.omit({ yaml: true, policy: true }),
  rules: z.array(ruleDiffSchema),
  limits: z.array(valueChangeSchema),
  tools: listChangeSchema,
  network: listChangeSchema,
  settings: z.array(valueChangeSchema),
  risk: z.object({
    classification: z.enum(['loosening', 'tightening', 'none']),
    changes: z.array(z.object({ path: z.string(), from: z.unknown(), to: z.unknown(), direction: z.enum(['looser', 'tighter']), why: z.string() })),
  }),
  yamlDiff: z.string().describe('unified diff of the two YAML texts'),
});
export const evaluationSchema = z.object({
  policy: z.object({ name: z.string(), version: z.number().int().nullable(), sha256: z.string() }),
  decision: z.object({ action: z.enum(['allow', 'deny', 'approve']), ruleId: z.string(), reason: z.string().nullable() }),
  rule: z.record(z.string(), z.unknown()).nullable().describe('the rule that matched (null: the tools list or the default decided)'),
  gate: z
    .object({
      approvers: z.number().int(),
      roles: z.array(z.string()),
      excludedApprovers: z.array(z.string()),
      timeoutSeconds: z.number(),
      onTimeout: z.enum(['deny', 'fail']),
      slackChannel: z.string().nullable(),
      risk: z.enum(['low', 'medium', 'high']),
    })
    .nullable(),
});

export type ResolvedPolicy = z.infer<typeof policyVersionSchema> & { readonly policy: Policy };

export interface PolicyRoutesDeps {
  readonly db: Db;
  readonly policies: PolicyStore;
}

function fromRow(row: PolicyVersion): ResolvedPolicy {
  return {
    name: row.name,
    source: 'tenant',
    version: row.version,
    sha256: row.sha256,
    extends: row.extends,
    description: row.policy.description ?? null,
    author: row.author,
    changeNote: row.changeNote,
    createdAt: row.createdAt.toISOString(),
    yaml: row.yaml,
    policy: row.policy,
  };
}

function unwrap(lookup: VersionLookup, what: string): ResolvedPolicy | undefined {
  if (lookup && 'ambiguous' in lookup) throw new ApiError(400, 'ambiguous_version', `${what} names more than one version: give more hex digits`);
  return lookup ? fromRow(lookup.version) : undefined;
}

/** A template or file policy: one version, named `latest` or by its hash. */
function fromStore(store: PolicyStore, tenantId: string, name: string, ref: VersionRef): ResolvedPolicy | undefined {
  const policy = store.get(name, tenantId);
  const source = store.fileOf(name, tenantId);
  if (!policy || !source) return undefined;
  const { hash } = snapshotPolicy(policy);
  if (ref.kind === 'number' || (ref.kind === 'sha' && !hash.startsWith(ref.prefix))) return undefined;
  return {
    name,
    source: source.template ? 'template' : 'file',
    version: null,
    sha256: hash,
    extends: policy.extends ?? null,
    description: policy.description ?? null,
    author: null,
    changeNote: null,
    createdAt: null,
    yaml: readFileSync(source.file, 'utf8'),
    policy,
  };
}

/** The tenant's policy `name` at `ref`: its own saved versions first, then files and templates (names never overlap). */
export async function resolvePolicy(deps: PolicyRoutesDeps, tenantId: string, name: string, ref: VersionRef = { kind: 'latest' }): Promise<ResolvedPolicy | undefined> {
  const saved = unwrap(await findPolicyVersion(deps.db, tenantId, name, ref), `${name}@${ref.kind === 'sha' ? ref.prefix : ''}`);
  return saved ?? fromStore(deps.policies, tenantId, name, ref);
}

/** `name` or `name@<ref>` (policyRefSchema has checked the form). */
export async function resolvePolicyRef(deps: PolicyRoutesDeps, tenantId: string, policyRef: string): Promise<ResolvedPolicy | undefined> {
  const [name = '', version] = policyRef.split('@');
  const ref = version === undefined ? { kind: 'latest' as const } : parseVersionRef(version);
  return ref ? resolvePolicy(deps, tenantId, name, ref) : undefined;
}

const summary = ({ yaml: _yaml, policy: _policy, ...rest }: ResolvedPolicy) => rest;

/** Faults of a saved YAML at `body.yaml.<path>` with their line. */
function yamlError(err: YamlFileError): ApiError {
  const fields = err.problems.map((p) => ({ path: p.path ? `body.yaml.${p.path}` : 'body.yaml', line: p.line, message: `line ${p.line}: ${p.message}` }));
  return new ApiError(400, 'invalid_policy', `invalid policy: ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`, fields);
}

export function policyRoutes(deps: PolicyRoutesDeps): Hono {
  const { db, policies } = deps;
  const app = new Hono();

  async function mustResolve(tenantId: string, name: string, ref: VersionRef = { kind: 'latest' }, refText = 'latest') {
    const found = await resolvePolicy(deps, tenantId, name, ref);
    if (!found) {
      const exists = ref.kind !== 'latest' && (await resolvePolicy(deps, tenantId, name));
      if (exists) throw new ApiError(404, 'version_not_found', `policy "${name}" has no version ${refText}`);
      throw new ApiError(404, 'policy_not_found', `no policy "${name}"`);
    }
    return found;
  }

  app.get('/', async (c) => {
    const { tenantId } = c.get('principal');
    const q = parseQuery(c, listPoliciesQuery);
    // Templates and files are few and in memory; the tenant's saved policies are paged in the database, in the same (byte) order.
    const fixed = policies
      .names(tenantId)
      .filter((name) => q.cursor === undefined || name > q.cursor)
      .map((name) => fromStore(policies, tenantId, name, { kind: 'latest' }))
      .filter((p): p is ResolvedPolicy => p !== undefined);
    const saved = (await listTenantPolicies(db, tenantId, { after: q.cursor, limit: q.limit + 1 })).map(fromRow);
    const all = [...fixed, ...saved].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const page = all.slice(0, q.limit);
    return c.json({ data: page.map(summary), nextCursor: all.length > q.limit ? (page.at(-1)?.name ?? null) : null });
  });

  app.post('/', async (c) => {
    const principal = c.get('principal');
    const body = await parseBody(c, savePolicyBody);
    // Whoever writes a policy can make it as loose as permissive: the tenant's elevated roles only (policies/permissions.ts).
    const settings = await tenantPolicySettings(db, principal.tenantId);
    if (!settings.elevated.roles.some((role) => principal.roles.includes(role))) {
      const who = settings.elevated.roles.length ? `role ${settings.elevated.roles.join(' or ')}` : 'a role the tenant names for looser policies (none named yet)';
      throw new ApiError(403, 'policy_write_needs_role', `saving a policy needs ${who}`);
    }
    let policy: Policy;
    try {
      policy = policies.parseTenantPolicy(body.yaml, 'body.yaml');
    } catch (err) {
      if (err instanceof YamlFileError) throw yamlError(err);
      throw err;
    }
    if (!NAME.test(policy.name) || policies.fileOf(policy.name, principal.tenantId)) {
      const why = NAME.test(policy.name) ? `"${policy.name}" is a template or file policy; choose another name` : 'at most 63 characters';
      throw yamlError(new YamlFileError('body.yaml', [{ line: 1, path: 'name', message: why }]));
    }
    const { version, created } = await savePolicyVersion(db, {
      tenantId: principal.tenantId,
      name: policy.name,
      sha256: snapshotPolicy(policy).hash,
      yaml: body.yaml,
      policy,
      author: principal.principal,
      changeNote: body.changeNote ?? null,
    });
    const location = `/v1/policies/${version.name}/versions/${version.version}`;
    return c.json({ ...fromRow(version), created }, created ? 201 : 200, { location });
  });

  app.post('/evaluate', async (c) => {
    const { tenantId } = c.get('principal');
    const body = await parseBody(c, evaluateBody);
    const found = body.policy !== undefined ? await resolvePolicyRef(deps, tenantId, body.policy) : unwrap(await findVersionBySha(db, tenantId, body.policyVersion ?? ''), 'policyVersion');
    if (!found) {
      const path = body.policy !== undefined ? 'body.policy' : 'body.policyVersion';
      throw new ApiError(404, 'policy_not_found', `no policy ${body.policy ?? body.policyVersion}`, [{ path, message: 'unknown policy or version' }]);
    }
    // The same pure function the workflow runs on the pinned snapshot.
    const decision = evaluatePolicy(found.policy, { name: body.tool, arguments: body.arguments });
    const rule = found.policy.rules.find((r, i) => (r.id ?? `rules[${i}]`) === decision.ruleId) ?? null;
    return c.json({
      policy: { name: found.name, version: found.version, sha256: found.sha256 },
      decision: { action: decision.action, ruleId: decision.ruleId, reason: decision.action === 'allow' ? null : decision.reason },
      rule,
      gate:
        decision.action === 'approve'
          ? {
              approvers: decision.approvers,
              roles: decision.roles,
              excludedApprovers: decision.excludedApprovers,
              timeoutSeconds: decision.timeoutMs / 1000,
              onTimeout: decision.onTimeout,
              slackChannel: decision.slackChannel,
              risk: decision.risk,
            }
          : null,
    });
  });

  app.get('/:name', async (c) => {
    const { name } = parseParams(c, policyParams);
    return c.json(await mustResolve(c.get('principal').tenantId, name));
  });

  app.get('/:name/versions', async (c) => {
    const { tenantId } = c.get('principal');
    const { name } = parseParams(c, policyParams);
    const q = parseQuery(c, listVersionsQuery);
    const rows = await listPolicyVersions(db, tenantId, name, { before: q.cursor === undefined ? undefined : Number(q.cursor), limit: q.limit + 1 });
    if (rows.length === 0) {
      // A template or file policy has its one version; an unknown name is a 404, an exhausted page is empty.
      const single = q.cursor === undefined ? await mustResolve(tenantId, name) : undefined;
      return c.json({ data: single ? [summary(single)] : [], nextCursor: null });
    }
    const page = rows.slice(0, q.limit);
    return c.json({ data: page.map((row) => summary(fromRow(row))), nextCursor: rows.length > q.limit ? String(page.at(-1)?.version) : null });
  });

  app.get('/:name/versions/:ref', async (c) => {
    const { name, ref } = parseParams(c, policyVersionParams);
    return c.json(await mustResolve(c.get('principal').tenantId, name, parseVersionRef(ref) ?? { kind: 'latest' }, ref));
  });

  app.get('/:name/diff', async (c) => {
    const { tenantId } = c.get('principal');
    const { name } = parseParams(c, policyParams);
    const q = parseQuery(c, diffQuery);
    const [a, b] = await Promise.all([
      mustResolve(tenantId, name, parseVersionRef(q.from) ?? { kind: 'latest' }, q.from),
      mustResolve(tenantId, name, parseVersionRef(q.to) ?? { kind: 'latest' }, q.to),
    ]);
    const label = (p: ResolvedPolicy) => (p.version === null ? p.sha256.slice(0, 12) : `v${p.version}`);
    return c.json({
      name,
      from: summary(a),
      to: summary(b),
      ...diffPolicies(a.policy, b.policy),
      yamlDiff: unifiedDiff(name, label(a), label(b), a.yaml, b.yaml),
    });
  });

  return app;
}

const errors = { 404: { description: 'no such policy or version in this tenant' } };

export const policyRouteDocs: readonly RouteDoc[] = [
  { method: 'get', path: '/v1/policies', operationId: 'listPolicies', summary: 'Templates, file policies and the tenant’s saved policies (newest version), by name', tag: 'policies', query: listPoliciesQuery, responses: { 200: { description: 'a page', schema: pageOf(policyVersionSchema.omit({ yaml: true, policy: true })) } } },
  {
    method: 'post',
    path: '/v1/policies',
    operationId: 'savePolicy',
    summary: 'Save a version of a tenant policy from YAML (identical content returns the existing version); needs a role the tenant elevates',
    tag: 'policies',
    body: savePolicyBody,
    responses: { 201: { description: 'a new version', schema: savedSchema }, 200: { description: 'identical content: the existing version', schema: savedSchema }, 403: { description: 'policy_write_needs_role' } },
  },
  { method: 'post', path: '/v1/policies/evaluate', operationId: 'evaluatePolicy', summary: 'What a policy decides about one tool call (the workflow’s own function)', tag: 'policies', body: evaluateBody, responses: { 200: { description: 'the decision', schema: evaluationSchema }, ...errors } },
  { method: 'get', path: '/v1/policies/:name', operationId: 'getPolicy', summary: 'A policy at its newest version', tag: 'policies', params: policyParams, responses: { 200: { description: 'the policy', schema: policyVersionSchema }, ...errors } },
  { method: 'get', path: '/v1/policies/:name/versions', operationId: 'listPolicyVersions', summary: 'Versions of a policy, newest first', tag: 'policies', params: policyParams, query: listVersionsQuery, responses: { 200: { description: 'a page', schema: pageOf(policyVersionSchema.omit({ yaml: true, policy: true })) }, ...errors } },
  { method: 'get', path: '/v1/policies/:name/versions/:ref', operationId: 'getPolicyVersion', summary: 'One version: latest, its number or a sha256 prefix', tag: 'policies', params: policyVersionParams, responses: { 200: { description: 'the version', schema: policyVersionSchema }, ...errors } },
  { method: 'get', path: '/v1/policies/:name/diff', operationId: 'diffPolicyVersions', summary: 'Structured and YAML diff of two versions, with the risk of the change', tag: 'policies', params: policyParams, query: diffQuery, responses: { 200: { description: 'the diff', schema: policyDiffSchema }, ...errors } },
];

/**
 * `/v1/agents` and `/v1/agent-templates`: the Agent Builder. Agents belong to
 * a tenant (another tenant's agent is a 404); versions are immutable and
 * named by the sha256 of their content (saving the same content again gives
 * the same version, 200 instead of 201); labels point at versions and every
 * move is audited. Moving `production` to a looser version opens a promotion
 * gate (api/routes/agent-promotions.ts); tighter or equal moves at once.
 */
import type { SecretProvider } from '../../secrets/provider.js';
import { checkSecretsExist } from '../session-secrets.js';
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { structuredDiff, specYaml, unifiedDiff } from '../../agents/diff.js';
import { classifyRisk, type PromotionRisk } from '../../agents/risk.js';
import { agentSlug, agentSpecSchema, changeNote, labelName, type AgentSpec } from '../../agents/schema.js';
import { loadAgentTemplates } from '../../agents/templates.js';
import type { Env } from '../../config/index.js';
import { insertAgent, listAgents, listLabelMoves, listLabels, listVersions, moveLabel, saveVersion, type AgentRow, type VersionRow } from '../../db/agents.js';
import type { Db } from '../../db/client.js';
import type { PolicyStore } from '../../policies/load.js';
import { chatModelProblem } from '../../router/model-policy.js';
import { ModelPolicyStore, type PolicySource } from '../../router/policy-store.js';
import { ownedAgent, policyRefOf, presentVersion, PRODUCTION, resolveVersion, specOf, versionPolicy, versionSha } from '../agent-versions.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { parseBody, parseParams, parseQuery } from '../validation.js';
import { openPromotion, promotionRoutes, type PromotionDeps } from './agent-promotions.js';

/** The parts of this API's answers that agents/ defines, named here for the console (web/ takes its types from api/). */
export type { AgentSpec, PromotionRisk };
export type { FieldChange } from '../../agents/diff.js';

export interface AgentRoutesDeps extends PromotionDeps {
  readonly config: PromotionDeps['config'] & Pick<Env, 'MODEL_POLICY_FILE'>;
  readonly db: Db;
  readonly policies: PolicyStore;
  readonly modelPolicy?: PolicySource | undefined;
  /** Where the secret names a version references are checked at save (a missing one is a 400). */
  readonly secrets?: SecretProvider | undefined;
}

const slugParams = z.object({ slug: agentSlug });
const versionParams = slugParams.extend({ ref: z.string().min(1).max(64) });
const labelParams = slugParams.extend({ label: labelName });
const versionRef = z.string().regex(/^[a-z0-9_-]{1,64}$/, 'a label, v<number> or a sha prefix');

const createSchema = z.union([
  z.object({ slug: agentSlug, fromTemplate: agentSlug, changeNote: changeNote.optional() }).strict(),
  z.object({ slug: agentSlug, spec: agentSpecSchema, changeNote: changeNote.optional() }).strict(),
]);
const saveSchema = z.object({ spec: agentSpecSchema, changeNote: changeNote.optional() }).strict();
const moveSchema = z.object({ version: versionRef, why: changeNote.min(1) }).strict();
const pageQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: z.string().max(200).optional() });
const historyQuery = pageQuery.extend({ label: labelName.optional() });
const diffQuery = z.object({ from: versionRef, to: versionRef });

const numericCursor = (cursor: string | undefined, path = 'query.cursor') => {
  if (cursor === undefined) return undefined;
  if (!/^\d{1,18}$/.test(cursor)) throw new ApiError(400, 'validation_failed', 'invalid cursor', [{ path, message: 'not a cursor from a previous page' }]);
  return cursor;
};

export function agentTemplateRoutes(): Hono {
  const templates = loadAgentTemplates();
  const app = new Hono();
  app.get('/', (c) =>
    c.json({ data: [...templates.values()].map((t) => ({ name: t.name, title: t.title, description: t.description, spec: t.spec, yaml: specYaml(t.spec) })) }),
  );
  app.get('/:name', (c) => {
    const { name } = parseParams(c, z.object({ name: agentSlug }));
    const t = templates.get(name);
    if (!t) throw new ApiError(404, 'template_not_found', `no agent template ${name}`);
    return c.json({ name: t.name, title: t.title, description: t.description, spec: t.spec, yaml: specYaml(t.spec) });
  });
  return app;
}

export function agentRoutes(deps: AgentRoutesDeps): Hono {
  const { db } = deps;
  const templates = loadAgentTemplates();
  const modelPolicy = deps.modelPolicy ?? new ModelPolicyStore(deps.config.MODEL_POLICY_FILE);
  const app = new Hono();

  /** What the API checks beyond the schema: the policy and the model must exist for this tenant. */
  async function checkSpec(tenantId: string, spec: AgentSpec, at: string): Promise<void> {
    if (!(await versionPolicy(deps, tenantId, spec))) {
      // A known name with an unknown version is the version's fault.
      const nameKnown = spec.policyVersion !== undefined && (await versionPolicy(deps, tenantId, { ...spec, policyVersion: undefined })) !== undefined;
      const path = nameKnown ? `${at}.policyVersion` : `${at}.policy`;
      throw new ApiError(400, 'unknown_policy', `no policy "${policyRefOf(spec)}" in this tenant`, [{ path, message: 'unknown policy or version' }]);
    }
    const problem = spec.model === undefined ? undefined : chatModelProblem(modelPolicy.current, spec.model);
    if (problem) throw new ApiError(400, 'unknown_model', problem, [{ path: `${at}.model`, message: 'unknown model' }]);
    await checkSecretsExist(deps.secrets, tenantId, spec.secrets, `${at}.secrets`);
  }

  async function save(c: Context, agent: AgentRow, spec: AgentSpec, note: string | undefined) {
    const { version, created } = await saveVersion(db, {
      tenantId: agent.tenant_id,
      agentId: agent.id,
      sha: versionSha(spec),
      spec,
      changeNote: note ?? null,
      author: c.get('principal').principal,
    });
    return { version, created };
  }

  async function risk(tenantId: string, from: VersionRow | undefined, to: VersionRow): Promise<PromotionRisk> {
    const toSpec = specOf(to);
    const toPolicy = await versionPolicy(deps, tenantId, toSpec);
    const fromSpec = from ? specOf(from) : undefined;
    const fromPolicy = fromSpec ? await versionPolicy(deps, tenantId, fromSpec) : undefined;
    if (!toPolicy || (fromSpec && !fromPolicy)) {
      // A policy that no longer loads cannot be shown to be no looser.
      const reason = { path: 'policy', from: fromSpec?.policy ?? null, to: toSpec.policy, direction: 'looser' as const, why: 'a policy of these versions cannot be loaded' };
      return { risky: true, reasons: [reason], changes: [reason] };
    }
    return classifyRisk(fromSpec && fromPolicy ? { spec: fromSpec, policy: fromPolicy } : null, { spec: toSpec, policy: toPolicy });
  }

  app.post('/', async (c) => {
    const principal = c.get('principal');
    const body = await parseBody(c, createSchema);
    let spec: AgentSpec;
    let note = body.changeNote;
    if ('fromTemplate' in body) {
      const template = templates.get(body.fromTemplate);
      if (!template) throw new ApiError(404, 'template_not_found', `no agent template ${body.fromTemplate}`, [{ path: 'body.fromTemplate', message: 'unknown template' }]);
      spec = template.spec;
      note ??= `from template ${template.name}`;
      await checkSpec(principal.tenantId, spec, 'body.fromTemplate');
    } else {
      spec = body.spec;
      await checkSpec(principal.tenantId, spec, 'body.spec');
    }
    const agent = await insertAgent(db, { id: `agt_${randomUUID()}`, tenantId: principal.tenantId, slug: body.slug, createdBy: principal.principal });
    if (!agent) throw new ApiError(409, 'agent_exists', `agent ${body.slug} already exists`, [{ path: 'body.slug', message: 'taken' }]);
    const { version } = await save(c, agent, spec, note);
    return c.json({ agent: { slug: agent.slug, createdBy: agent.created_by, createdAt: agent.created_at.toISOString() }, version: presentVersion(agent.slug, version) }, 201, {
      location: `/v1/agents/${agent.slug}`,
    });
  });

  app.get('/', async (c) => {
    const { tenantId } = c.get('principal');
    const q = parseQuery(c, pageQuery);
    if (q.cursor !== undefined && !agentSlug.safeParse(q.cursor).success) {
      throw new ApiError(400, 'validation_failed', 'invalid cursor', [{ path: 'query.cursor', message: 'not a cursor from a previous page' }]);
    }
    const rows = await listAgents(db, tenantId, { limit: q.limit + 1, after: q.cursor });
    const page = rows.slice(0, q.limit);
    return c.json({
      data: page.map((r) => ({ slug: r.slug, createdBy: r.created_by, createdAt: r.created_at.toISOString(), latestVersion: r.latest_number === null ? null : Number(r.latest_number) })),
      nextCursor: rows.length > q.limit ? (page.at(-1)?.slug ?? null) : null,
    });
  });

  app.get('/:slug', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug } = parseParams(c, slugParams);
    const agent = await ownedAgent(db, tenantId, slug);
    const [latest] = await listVersions(db, tenantId, agent.id, { limit: 1 });
    const labels = await listLabels(db, tenantId, agent.id);
    return c.json({
      slug: agent.slug,
      createdBy: agent.created_by,
      createdAt: agent.created_at.toISOString(),
      labels: Object.fromEntries(labels.map((l) => [l.label, { sha: l.sha, number: l.number, updatedBy: l.updated_by, updatedAt: l.updated_at.toISOString() }])),
      latest: latest ? presentVersion(slug, latest) : null,
    });
  });

  app.post('/:slug/versions', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug } = parseParams(c, slugParams);
    const body = await parseBody(c, saveSchema);
    const agent = await ownedAgent(db, tenantId, slug);
    await checkSpec(tenantId, body.spec, 'body.spec');
    const { version, created } = await save(c, agent, body.spec, body.changeNote);
    return c.json({ ...presentVersion(slug, version), created }, created ? 201 : 200);
  });

  app.get('/:slug/versions', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug } = parseParams(c, slugParams);
    const q = parseQuery(c, pageQuery);
    const before = numericCursor(q.cursor);
    const agent = await ownedAgent(db, tenantId, slug);
    const rows = await listVersions(db, tenantId, agent.id, { limit: q.limit + 1, before: before === undefined ? undefined : Number(before) });
    const page = rows.slice(0, q.limit);
    return c.json({ data: page.map((r) => presentVersion(slug, r)), nextCursor: rows.length > q.limit ? String(page.at(-1)?.number) : null });
  });

  app.get('/:slug/versions/:ref', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug, ref } = parseParams(c, versionParams);
    const agent = await ownedAgent(db, tenantId, slug);
    const version = await resolveVersion(db, agent, ref, 'params.ref');
    return c.json({ ...presentVersion(slug, version), yaml: specYaml(specOf(version)) });
  });

  app.get('/:slug/labels', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug } = parseParams(c, slugParams);
    const agent = await ownedAgent(db, tenantId, slug);
    const labels = await listLabels(db, tenantId, agent.id);
    return c.json({ data: labels.map((l) => ({ label: l.label, sha: l.sha, number: l.number, updatedBy: l.updated_by, updatedAt: l.updated_at.toISOString() })) });
  });

  app.get('/:slug/labels/history', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug } = parseParams(c, slugParams);
    const q = parseQuery(c, historyQuery);
    const before = numericCursor(q.cursor);
    const agent = await ownedAgent(db, tenantId, slug);
    const rows = await listLabelMoves(db, tenantId, agent.id, { limit: q.limit + 1, label: q.label, before });
    const page = rows.slice(0, q.limit);
    return c.json({
      data: page.map((m) => ({
        label: m.label,
        from: m.from_sha,
        to: m.to_sha,
        movedBy: m.moved_by,
        why: m.why,
        promotionId: m.promotion_id,
        approvers: m.approvers,
        at: m.created_at.toISOString(),
      })),
      nextCursor: rows.length > q.limit ? String(page.at(-1)?.id) : null,
    });
  });

  /** Sets or moves a label: promote, roll back. `production` to a looser version waits on a gate (202). */
  app.put('/:slug/labels/:label', async (c) => {
    const principal = c.get('principal');
    const { slug, label } = parseParams(c, labelParams);
    const body = await parseBody(c, moveSchema);
    const agent = await ownedAgent(db, principal.tenantId, slug);
    const to = await resolveVersion(db, agent, body.version, 'body.version');
    // A secret of the version removed from the provider since the version was saved: a 400 now, not every session failing later.
    await checkSecretsExist(deps.secrets, principal.tenantId, specOf(to).secrets, 'body.version.spec.secrets');
    const current = await listLabels(db, principal.tenantId, agent.id).then((ls) => ls.find((l) => l.label === label));
    const from = current ? await resolveVersion(db, agent, current.sha, 'params.label') : undefined;
    const judged = await risk(principal.tenantId, from, to);
    if (label === PRODUCTION && judged.risky && from?.sha !== to.sha) {
      // Posted to Slack where the new version's policy posts its gates.
      const slackChannel = (await versionPolicy(deps, principal.tenantId, specOf(to)))?.approval.slack?.channel ?? null;
      const promotion = await openPromotion(deps, { agent, label, from: from ?? null, to, requester: principal.principal, why: body.why, risk: judged, slackChannel });
      return c.json({ moved: false, pending: true, label, from: from?.sha ?? null, to: to.sha, risky: true, reasons: judged.reasons, promotion }, 202);
    }
    if (from?.sha !== to.sha) {
      await moveLabel(db, { tenantId: principal.tenantId, agentId: agent.id, label, toSha: to.sha, movedBy: principal.principal, why: body.why });
    }
    return c.json({ moved: from?.sha !== to.sha, pending: false, label, from: from?.sha ?? null, to: to.sha, risky: judged.risky, reasons: judged.reasons });
  });

  app.get('/:slug/diff', async (c) => {
    const { tenantId } = c.get('principal');
    const { slug } = parseParams(c, slugParams);
    const q = parseQuery(c, diffQuery);
    const agent = await ownedAgent(db, tenantId, slug);
    const from = await resolveVersion(db, agent, q.from, 'query.from');
    const to = await resolveVersion(db, agent, q.to, 'query.to');
    const [a, b] = [specOf(from), specOf(to)];
    const [fromName, toName] = [`v${from.number}`, `v${to.number}`];
    return c.json({
      from: { sha: from.sha, number: from.number },
      to: { sha: to.sha, number: to.number },
      fields: structuredDiff(a, b),
      prompt: unifiedDiff(`${slug}/systemPrompt`, fromName, toName, a.systemPrompt, b.systemPrompt),
      yaml: unifiedDiff(`${slug}.yaml`, fromName, toName, specYaml(a), specYaml(b)),
      risk: await risk(tenantId, from, to),
    });
  });

  app.route('/', promotionRoutes(deps));
  return app;
}

const anyJson = z.record(z.string(), z.unknown());
const page = z.object({ data: z.array(anyJson), nextCursor: z.string().nullable() });
const agentErrors = { 404: { description: 'agent_not_found | version_not_found' } };

/** For the OpenAPI document (api/api-document.ts): request schemas exact, responses as JSON objects for now. */
export const agentRouteDocs: readonly RouteDoc[] = [
  { method: 'get', path: '/v1/agent-templates', operationId: 'listAgentTemplates', summary: 'The agent template library', tag: 'agents', responses: { 200: { description: 'templates', schema: z.object({ data: z.array(anyJson) }) } } },
  { method: 'get', path: '/v1/agent-templates/:name', operationId: 'getAgentTemplate', summary: 'One agent template', tag: 'agents', params: z.object({ name: agentSlug }), responses: { 200: { description: 'the template', schema: anyJson }, 404: { description: 'template_not_found' } } },
  { method: 'post', path: '/v1/agents', operationId: 'createAgent', summary: 'Create an agent from a template or a spec (version 1)', tag: 'agents', body: createSchema, responses: { 201: { description: 'the agent and its version 1', schema: anyJson }, 409: { description: 'agent_exists' } } },
  { method: 'get', path: '/v1/agents', operationId: 'listAgents', summary: 'The tenant’s agents', tag: 'agents', query: pageQuery, responses: { 200: { description: 'a page', schema: page } } },
  { method: 'get', path: '/v1/agents/:slug', operationId: 'getAgent', summary: 'An agent, its labels and newest version', tag: 'agents', params: slugParams, responses: { 200: { description: 'the agent', schema: anyJson }, ...agentErrors } },
  { method: 'post', path: '/v1/agents/:slug/versions', operationId: 'saveAgentVersion', summary: 'Save a version (identical content returns the existing one, 200)', tag: 'agents', params: slugParams, body: saveSchema, responses: { 201: { description: 'a new version', schema: anyJson }, 200: { description: 'the existing version', schema: anyJson }, ...agentErrors } },
  { method: 'get', path: '/v1/agents/:slug/versions', operationId: 'listAgentVersions', summary: 'Versions, newest first', tag: 'agents', params: slugParams, query: pageQuery, responses: { 200: { description: 'a page', schema: page }, ...agentErrors } },
  { method: 'get', path: '/v1/agents/:slug/versions/:ref', operationId: 'getAgentVersion', summary: 'One version by label, v<number> or sha prefix', tag: 'agents', params: versionParams, responses: { 200: { description: 'the version', schema: anyJson }, ...agentErrors } },
  { method: 'get', path: '/v1/agents/:slug/labels', operationId: 'listAgentLabels', summary: 'Labels and the versions they point at', tag: 'agents', params: slugParams, responses: { 200: { description: 'labels', schema: z.object({ data: z.array(anyJson) }) }, ...agentErrors } },
  { method: 'get', path: '/v1/agents/:slug/labels/history', operationId: 'listAgentLabelMoves', summary: 'The audit of label moves', tag: 'agents', params: slugParams, query: historyQuery, responses: { 200: { description: 'a page', schema: page }, ...agentErrors } },
  { method: 'put', path: '/v1/agents/:slug/labels/:label', operationId: 'moveAgentLabel', summary: 'Promote or roll back; production to a looser version waits on a gate (202)', tag: 'agents', params: labelParams, body: moveSchema, responses: { 200: { description: 'moved', schema: anyJson }, 202: { description: 'a promotion gate opened', schema: anyJson }, ...agentErrors } },
  { method: 'get', path: '/v1/agents/:slug/diff', operationId: 'diffAgentVersions', summary: 'Structured, prompt and YAML diff of two versions, with the promotion risk', tag: 'agents', params: slugParams, query: diffQuery, responses: { 200: { description: 'the diff', schema: anyJson }, ...agentErrors } },
];

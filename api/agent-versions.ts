/**
 * Agent versions as the API finds and shows them: references (`production`,
 * `v3`, a sha prefix), the policy a version names, and the version a new
 * session pins (`POST /v1/sessions {agent: "reviewer@production"}`).
 */
import { createHash } from 'node:crypto';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { effectivePolicy, type RequestLimits } from '../agents/effective.js';
import { agentSpecSchema, type AgentSpec } from '../agents/schema.js';
import { getAgent, getLabel, listVersions, versionByNumber, versionBySha, versionsByShaPrefix, type AgentRow, type VersionRow } from '../db/agents.js';
import type { Db } from '../db/client.js';
import { canonicalJson } from '../domain/canonical-json.js';
import type { PolicyStore } from '../policies/load.js';
import type { Policy } from '../policies/schema.js';
import { SEARCH_ATTRIBUTES } from '../domain/temporal-names.js';
import { ApiError } from './errors.js';
import { resolvePolicyRef } from './routes/policies.js';

export const AGENT_VERSION_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.agentVersion, SearchAttributeType.KEYWORD);

/** The label a bare agent name resolves to, and the one whose moves are gated. */
export const PRODUCTION = 'production';

/** A version's name: sha256 of the canonical JSON of its content. */
export function versionSha(spec: AgentSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

export function specOf(row: VersionRow): AgentSpec {
  // Stored after validation; parsing again fills defaults a later schema adds.
  return agentSpecSchema.parse(row.spec);
}

export async function ownedAgent(db: Db, tenantId: string, slug: string): Promise<AgentRow> {
  const agent = await getAgent(db, tenantId, slug);
  if (!agent) throw new ApiError(404, 'agent_not_found', `no agent ${slug}`);
  return agent;
}

/**
 * The version a reference names: `v3` (a number), a label, or a sha prefix
 * (at least 6 hex digits). `field` is where the reference came from, for errors.
 */
export async function resolveVersion(db: Db, agent: AgentRow, ref: string, field: string): Promise<VersionRow> {
  const tenantId = agent.tenant_id;
  const notFound = () => new ApiError(404, 'version_not_found', `agent ${agent.slug} has no version "${ref}"`, [{ path: field, message: 'no such version or label' }]);
  const number = /^v(\d{1,9})$/.exec(ref)?.[1];
  if (number !== undefined) {
    const row = await versionByNumber(db, tenantId, agent.id, Number(number));
    if (!row) throw notFound();
    return row;
  }
  const label = await getLabel(db, tenantId, agent.id, ref);
  if (label) return (await versionBySha(db, tenantId, agent.id, label.sha)) ?? Promise.reject(notFound());
  if (/^[0-9a-f]{6,64}$/.test(ref)) {
    const rows = await versionsByShaPrefix(db, tenantId, agent.id, ref);
    if (rows.length > 1) throw new ApiError(400, 'ambiguous_version', `"${ref}" is the prefix of more than one version; give more digits`, [{ path: field, message: 'ambiguous sha prefix' }]);
    if (rows[0]) return rows[0];
  }
  throw notFound();
}

/** How a version names its policy to the policy resolver: `name`, or `name@<sha>` when it pins a version. */
export function policyRefOf(spec: AgentSpec): string {
  return spec.policyVersion ? `${spec.policy}@${spec.policyVersion}` : spec.policy;
}

/**
 * The policy a version runs under, resolved as a session's `policy` is
 * (api/routes/policies.ts: the tenant's saved versions, its file policies,
 * the templates); undefined when there is none of that name or version.
 */
export async function versionPolicy(deps: { db: Db; policies: PolicyStore }, tenantId: string, spec: AgentSpec): Promise<Policy | undefined> {
  return (await resolvePolicyRef(deps, tenantId, policyRefOf(spec)))?.policy;
}

export function presentVersion(slug: string, row: VersionRow) {
  return {
    agent: slug,
    sha: row.sha,
    number: row.number,
    ref: `${slug}@${row.sha.slice(0, 12)}`,
    spec: specOf(row),
    changeNote: row.change_note,
    author: row.author,
    createdAt: row.created_at.toISOString(),
  };
}

/** What a session takes from the version it pins. */
export interface PinnedAgent {
  readonly slug: string;
  readonly sha: string;
  readonly number: number;
  readonly spec: AgentSpec;
  /** The version's policy narrowed by the version and the request's limits (agents/effective.ts). */
  policyFor(base: Policy, request?: RequestLimits): Policy;
}

/** Fields a pinned version decides; a request may not set them too. */
const PINNED_FIELDS = ['policy', 'model', 'requestType', 'systemPrompt'] as const;

/**
 * The version `agent` names, when it names a tenant agent (`slug`,
 * `slug@ref`); a bare name resolves to its production label, else its
 * latest version. A bare name that is no agent of the tenant is the
 * free-text label sessions always had (undefined); `slug@ref` must resolve.
 */
export async function pinSessionAgent(db: Db, tenantId: string, body: { agent: string } & Partial<Record<(typeof PINNED_FIELDS)[number], unknown>>): Promise<PinnedAgent | undefined> {
  const [slug = '', ref] = body.agent.split('@');
  const agent = await getAgent(db, tenantId, slug);
  if (!agent) {
    if (ref === undefined) return undefined;
    throw new ApiError(404, 'agent_not_found', `no agent ${slug}`, [{ path: 'body.agent', message: 'no such agent' }]);
  }
  const set = PINNED_FIELDS.filter((f) => body[f] !== undefined);
  if (set.length > 0) {
    throw new ApiError(
      400,
      'agent_version_conflict',
      `agent ${slug} is a versioned agent: its version sets ${set.join(', ')} (save a new version to change them)`,
      set.map((f) => ({ path: `body.${f}`, message: 'set by the agent version' })),
    );
  }
  let version: VersionRow | undefined;
  if (ref !== undefined) version = await resolveVersion(db, agent, ref, 'body.agent');
  else if (await getLabel(db, tenantId, agent.id, PRODUCTION)) version = await resolveVersion(db, agent, PRODUCTION, 'body.agent');
  else version = (await listVersions(db, tenantId, agent.id, { limit: 1 }))[0];
  if (!version) throw new ApiError(404, 'version_not_found', `agent ${slug} has no version yet`, [{ path: 'body.agent', message: 'no version' }]);
  const spec = specOf(version);
  return { slug, sha: version.sha, number: version.number, spec, policyFor: (base, request) => effectivePolicy(spec, base, request) };
}

/** The session request as the pinned version makes it: its prompt, model, policy and metadata (its tier too). */
export function withPinnedVersion<B extends { agent: string; metadata: Record<string, string> }>(body: B, pinned: PinnedAgent): B {
  const { spec } = pinned;
  return {
    ...body,
    agent: pinned.slug,
    policy: policyRefOf(spec),
    model: spec.model,
    requestType: spec.requestType,
    systemPrompt: spec.systemPrompt,
    metadata: { ...spec.metadata, ...body.metadata, ...(spec.tier ? { tier: spec.tier } : {}) },
  };
}

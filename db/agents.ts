/**
 * SQL of the Agent Builder (0005_agents). Every query names the tenant:
 * another tenant's agent, version, label or promotion is never read or moved.
 * Versions are inserted once and never updated or deleted here.
 */
import { sql, type Kysely } from 'kysely';
import type { GateView } from '../domain/gate.js';
import { gateViewSchema } from '../domain/gate-schema.js';
import type { PromotionStatus } from './agent-tables.js';
import type { Db } from './client.js';
import { sqlStateOf } from './errors.js';
import type { Database } from './schema.js';
import { storableJson } from './storable.js';

type Conn = Kysely<Database>;

export interface AgentRow {
  readonly id: string;
  readonly tenant_id: string;
  readonly slug: string;
  readonly created_by: string;
  readonly created_at: Date;
}

/** A new agent, or undefined when the tenant already has one with that slug. */
export async function insertAgent(db: Conn, agent: { id: string; tenantId: string; slug: string; createdBy: string }): Promise<AgentRow | undefined> {
  try {
    return await db
      .insertInto('agents')
      .values({ id: agent.id, tenant_id: agent.tenantId, slug: agent.slug, created_by: agent.createdBy })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if (sqlStateOf(err) === '23505') return undefined;
    throw err;
  }
}

export async function getAgent(db: Db, tenantId: string, slug: string): Promise<AgentRow | undefined> {
  return db.selectFrom('agents').selectAll().where('tenant_id', '=', tenantId).where('slug', '=', slug).executeTakeFirst();
}

/** A tenant's agents by slug, after `after` (keyset), with their latest version number. */
export async function listAgents(db: Db, tenantId: string, options: { limit: number; after?: string | undefined }) {
  let q = db
    .selectFrom('agents')
    .selectAll('agents')
    .select((eb) =>
      eb
        .selectFrom('agent_versions')
        .select((v) => v.fn.max('number').as('n'))
        .whereRef('agent_versions.agent_id', '=', 'agents.id')
        .where('agent_versions.tenant_id', '=', tenantId)
        .as('latest_number'),
    )
    .where('tenant_id', '=', tenantId);
  if (options.after !== undefined) q = q.where('slug', '>', options.after);
  return q.orderBy('slug').limit(options.limit).execute();
}

export interface VersionRow {
  readonly tenant_id: string;
  readonly agent_id: string;
  readonly sha: string;
  readonly number: number;
  readonly spec: unknown;
  readonly change_note: string | null;
  readonly author: string;
  readonly created_at: Date;
}

/**
 * Saves a version unless one with the same sha exists: `created` says which.
 * The agent row is locked so that numbers are assigned one at a time.
 */
export async function saveVersion(
  db: Db,
  v: { tenantId: string; agentId: string; sha: string; spec: unknown; changeNote: string | null; author: string },
): Promise<{ version: VersionRow; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    await trx.selectFrom('agents').select('id').where('id', '=', v.agentId).where('tenant_id', '=', v.tenantId).forUpdate().executeTakeFirstOrThrow();
    const existing = await versionBySha(trx, v.tenantId, v.agentId, v.sha);
    if (existing) return { version: existing, created: false };
    const last = await trx
      .selectFrom('agent_versions')
      .select((eb) => eb.fn.max('number').as('n'))
      .where('agent_id', '=', v.agentId)
      .where('tenant_id', '=', v.tenantId)
      .executeTakeFirst();
    const version = await trx
      .insertInto('agent_versions')
      .values({
        tenant_id: v.tenantId,
        agent_id: v.agentId,
        sha: v.sha,
        number: Number(last?.n ?? 0) + 1,
        spec: storableJson(v.spec),
        change_note: v.changeNote,
        author: v.author,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { version, created: true };
  });
}

export async function versionBySha(db: Conn, tenantId: string, agentId: string, sha: string): Promise<VersionRow | undefined> {
  return db.selectFrom('agent_versions').selectAll().where('tenant_id', '=', tenantId).where('agent_id', '=', agentId).where('sha', '=', sha).executeTakeFirst();
}

export async function versionByNumber(db: Db, tenantId: string, agentId: string, number: number): Promise<VersionRow | undefined> {
  return db.selectFrom('agent_versions').selectAll().where('tenant_id', '=', tenantId).where('agent_id', '=', agentId).where('number', '=', number).executeTakeFirst();
}

/** Up to two versions whose sha starts with `prefix` (two: the prefix is ambiguous). */
export async function versionsByShaPrefix(db: Db, tenantId: string, agentId: string, prefix: string): Promise<VersionRow[]> {
  return db
    .selectFrom('agent_versions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .where('sha', 'like', `${prefix.replace(/[^0-9a-f]/g, '')}%`)
    .orderBy('number')
    .limit(2)
    .execute();
}

/** Newest first; `before` a version number (keyset). */
export async function listVersions(db: Db, tenantId: string, agentId: string, options: { limit: number; before?: number | undefined }) {
  let q = db.selectFrom('agent_versions').selectAll().where('tenant_id', '=', tenantId).where('agent_id', '=', agentId);
  if (options.before !== undefined) q = q.where('number', '<', options.before);
  return q.orderBy('number', 'desc').limit(options.limit).execute();
}

export async function getLabel(db: Conn, tenantId: string, agentId: string, label: string) {
  return db.selectFrom('agent_labels').selectAll().where('tenant_id', '=', tenantId).where('agent_id', '=', agentId).where('label', '=', label).executeTakeFirst();
}

export async function listLabels(db: Db, tenantId: string, agentId: string) {
  return db
    .selectFrom('agent_labels')
    .innerJoin('agent_versions', (j) => j.onRef('agent_versions.agent_id', '=', 'agent_labels.agent_id').onRef('agent_versions.sha', '=', 'agent_labels.sha'))
    .select(['agent_labels.label', 'agent_labels.sha', 'agent_labels.updated_by', 'agent_labels.updated_at', 'agent_versions.number'])
    .where('agent_labels.tenant_id', '=', tenantId)
    .where('agent_labels.agent_id', '=', agentId)
    .orderBy('agent_labels.label')
    .execute();
}

export interface LabelMove {
  readonly tenantId: string;
  readonly agentId: string;
  readonly label: string;
  readonly toSha: string;
  readonly movedBy: string;
  readonly why: string;
  readonly promotionId?: string | undefined;
  readonly approvers?: readonly string[] | undefined;
}

/** Whether the promotion moved its label already (a retried finish must not move it twice). */
export async function promotionMovedLabel(db: Db, tenantId: string, promotionId: string): Promise<boolean> {
  const moved = await db
    .selectFrom('agent_label_moves')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('promotion_id', '=', promotionId)
    .executeTakeFirst();
  return moved !== undefined;
}

/** Points the label at `toSha` and audits the move, in one transaction; returns where it pointed before. */
export async function moveLabel(db: Db, move: LabelMove): Promise<{ fromSha: string | null }> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('agent_labels')
      .select('sha')
      .where('tenant_id', '=', move.tenantId)
      .where('agent_id', '=', move.agentId)
      .where('label', '=', move.label)
      .forUpdate()
      .executeTakeFirst();
    await trx
      .insertInto('agent_labels')
      .values({ tenant_id: move.tenantId, agent_id: move.agentId, label: move.label, sha: move.toSha, updated_by: move.movedBy })
      .onConflict((oc) => oc.columns(['agent_id', 'label']).doUpdateSet({ sha: move.toSha, updated_by: move.movedBy, updated_at: sql`now()` }))
      .execute();
    await trx
      .insertInto('agent_label_moves')
      .values({
        tenant_id: move.tenantId,
        agent_id: move.agentId,
        label: move.label,
        from_sha: current?.sha ?? null,
        to_sha: move.toSha,
        moved_by: move.movedBy,
        why: move.why,
        promotion_id: move.promotionId ?? null,
        approvers: storableJson(move.approvers ?? []),
      })
      .execute();
    return { fromSha: current?.sha ?? null };
  });
}

/** The audit of label moves, newest first; `before` a move id (keyset). */
export async function listLabelMoves(db: Db, tenantId: string, agentId: string, options: { limit: number; label?: string | undefined; before?: string | undefined }) {
  let q = db.selectFrom('agent_label_moves').selectAll().where('tenant_id', '=', tenantId).where('agent_id', '=', agentId);
  if (options.label !== undefined) q = q.where('label', '=', options.label);
  if (options.before !== undefined) q = q.where('id', '<', options.before);
  return q.orderBy('id', 'desc').limit(options.limit).execute();
}

export interface NewPromotion {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  readonly label: string;
  readonly fromSha: string | null;
  readonly toSha: string;
  readonly requester: string;
  readonly why: string;
  readonly reasons: unknown;
}

export async function insertPromotion(db: Db, p: NewPromotion): Promise<void> {
  await db
    .insertInto('agent_promotions')
    .values({
      id: p.id,
      tenant_id: p.tenantId,
      agent_id: p.agentId,
      label: p.label,
      from_sha: p.fromSha,
      to_sha: p.toSha,
      requester: p.requester,
      why: p.why,
      reasons: storableJson(p.reasons),
      status: 'pending',
    })
    .execute();
}

export async function getPromotion(db: Db, tenantId: string, id: string) {
  return db.selectFrom('agent_promotions').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

/** The gate as the workflow holds it now (its gateView); a final status closes the promotion. */
export async function updatePromotion(db: Db, tenantId: string, id: string, patch: { gate?: GateView; status?: PromotionStatus }): Promise<void> {
  await db
    .updateTable('agent_promotions')
    .set({
      ...(patch.gate !== undefined ? { gate: storableJson(patch.gate) } : {}),
      ...(patch.status !== undefined ? { status: patch.status, closed_at: patch.status === 'pending' ? null : new Date() } : {}),
    })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .execute();
}

/** A promotion row's gate, checked: null before the workflow wrote one (or if what is stored is not a gate). */
export function promotionGate(stored: unknown): GateView | null {
  const parsed = gateViewSchema.safeParse(stored);
  return parsed.success ? parsed.data : null;
}

/** A tenant's open promotions with their agent's slug (the approvals inbox). */
export async function listPendingPromotions(db: Db, tenantId: string, limit: number) {
  return db
    .selectFrom('agent_promotions')
    .innerJoin('agents', 'agents.id', 'agent_promotions.agent_id')
    .selectAll('agent_promotions')
    .select('agents.slug')
    .where('agent_promotions.tenant_id', '=', tenantId)
    .where('agents.tenant_id', '=', tenantId)
    .where('agent_promotions.status', '=', 'pending')
    .orderBy('agent_promotions.created_at', 'desc')
    .limit(limit)
    .execute();
}

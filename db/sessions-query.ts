/** Session rows as the API reads them: always scoped to one tenant. */
import type { Db } from './client.js';
import type { SessionStatus } from './schema.js';

export async function getSessionRow(db: Db, tenantId: string, sessionId: string) {
  return db.selectFrom('sessions').selectAll().where('id', '=', sessionId).where('tenant_id', '=', tenantId).executeTakeFirst();
}

export interface SessionPageCursor {
  readonly createdAt: string;
  readonly id: string;
}

/** Newest first, keyset-paginated on (created_at, id). */
export async function listSessionRows(
  db: Db,
  tenantId: string,
  options: { limit: number; cursor?: SessionPageCursor | undefined; status?: SessionStatus | undefined; agent?: string | undefined },
) {
  let query = db.selectFrom('sessions').selectAll().where('tenant_id', '=', tenantId);
  if (options.status) query = query.where('status', '=', options.status);
  if (options.agent) query = query.where('agent', '=', options.agent);
  if (options.cursor) {
    const { createdAt, id } = options.cursor;
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', new Date(createdAt)), eb.and([eb('created_at', '=', new Date(createdAt)), eb('id', '<', id)])]),
    );
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
}

/** Sessions whose `ended_at` is not set yet, by status: one grouped count over every tenant (the API's gauge). */
export async function countActiveSessionsByStatus(db: Db): Promise<{ status: SessionStatus; count: number }[]> {
  const rows = await db
    .selectFrom('sessions')
    .select((eb) => ['status', eb.fn.countAll<string>().as('n')])
    .where('ended_at', 'is', null)
    .groupBy('status')
    .execute();
  return rows.map((r) => ({ status: r.status, count: Number(r.n) }));
}

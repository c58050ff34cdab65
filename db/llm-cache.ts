/**
 * The model answer cache in Postgres: keyed by tenant and request key (one
 * tenant never reads another's answers), expired by `expires_at`.
 */
import { sql } from 'kysely';
import type { CacheStore, CachedAnswer } from '../router/stores.js';
import type { ChatAnswer } from '../router/types.js';
import type { Db } from './client.js';
import { storableJson } from './storable.js';

/** The router's CacheStore on Postgres. */
export function postgresCache(db: Db): CacheStore & { purgeExpired(): Promise<number> } {
  return {
    async get(tenantId, key) {
      const row = await db
        .selectFrom('llm_cache')
        .select(['value', 'cost_usd'])
        .where('tenant_id', '=', tenantId)
        .where('cache_key', '=', key)
        .where('expires_at', '>', sql<Date>`now()`)
        .executeTakeFirst();
      if (!row) return undefined;
      const value = row.value as unknown as Omit<CachedAnswer, 'costUsd'> & { answer: ChatAnswer };
      return { ...value, costUsd: Number(row.cost_usd) };
    },

    async put(tenantId, key, value, ttlSeconds) {
      const { costUsd, ...rest } = value;
      await db
        .insertInto('llm_cache')
        .values({
          tenant_id: tenantId,
          cache_key: key,
          model: value.model,
          value: storableJson(rest),
          cost_usd: costUsd,
          expires_at: sql<Date>`now() + make_interval(secs => ${ttlSeconds})`,
        })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'cache_key']).doUpdateSet((eb) => ({
            value: eb.ref('excluded.value'),
            model: eb.ref('excluded.model'),
            cost_usd: eb.ref('excluded.cost_usd'),
            expires_at: eb.ref('excluded.expires_at'),
          })),
        )
        .execute();
    },

    /** Deletes expired answers; returns how many. */
    async purgeExpired() {
      const result = await db.deleteFrom('llm_cache').where('expires_at', '<=', sql<Date>`now()`).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

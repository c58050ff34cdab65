/**
 * The semantic cache's store in Postgres (table in 0011_semantic_cache): per
 * tenant and scope, the newest unexpired entries read through the index
 * (tenant_id, scope, created_at desc); the router compares them in process.
 */
import { endianness } from 'node:os';
import { sql } from 'kysely';
import type { CachedAnswer, SemanticCacheStore, SemanticVector } from '../router/stores.js';
import type { ChatAnswer } from '../router/types.js';
import type { Db } from './client.js';
import { storableJson } from './storable.js';

const LITTLE_ENDIAN = endianness() === 'LE';

/** A vector as stored: float32, little-endian, whatever the host's byte order. */
export function vectorBytes(vector: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(vector.buffer.slice(vector.byteOffset, vector.byteOffset + vector.length * 4));
  const out = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => out.writeFloatLE(x, i * 4));
  return out;
}

function vectorOf(bytes: Buffer, dims: number): Float32Array {
  // One copy on little-endian hosts (all the usual ones); per float elsewhere.
  if (LITTLE_ENDIAN) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + dims * 4));
  const v = new Float32Array(dims);
  for (let i = 0; i < dims; i++) v[i] = bytes.readFloatLE(i * 4);
  return v;
}

/** The router's SemanticCacheStore on Postgres. */
export function postgresSemanticCache(db: Db): SemanticCacheStore & { purgeExpired(): Promise<number> } {
  return {
    async candidates(tenantId, scope, limit) {
      const rows = await db
        .selectFrom('llm_semantic_cache')
        .select(['text_hash', 'dims', 'vector'])
        .where('tenant_id', '=', tenantId)
        .where('scope', '=', scope)
        .where('expires_at', '>', sql<Date>`now()`)
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute();
      return rows.map((r): SemanticVector => ({ textHash: r.text_hash, vector: vectorOf(r.vector, r.dims) }));
    },

    async answer(tenantId, scope, textHash) {
      const row = await db
        .selectFrom('llm_semantic_cache')
        .select(['value', 'cost_usd'])
        .where('tenant_id', '=', tenantId)
        .where('scope', '=', scope)
        .where('text_hash', '=', textHash)
        .where('expires_at', '>', sql<Date>`now()`)
        .executeTakeFirst();
      if (!row) return undefined;
      const value = row.value as unknown as Omit<CachedAnswer, 'costUsd'> & { answer: ChatAnswer };
      return { ...value, costUsd: Number(row.cost_usd) };
    },

    async put(tenantId, scope, entry, ttlSeconds) {
      const { costUsd, ...rest } = entry.value;
      // The scope's expired entries go with each write (one statement): a busy scope never grows past its live entries.
      await db
        .with('expired', (q) => q.deleteFrom('llm_semantic_cache').where('tenant_id', '=', tenantId).where('scope', '=', scope).where('text_hash', '<>', entry.textHash).where('expires_at', '<=', sql<Date>`now()`))
        .insertInto('llm_semantic_cache')
        .values({
          tenant_id: tenantId,
          scope,
          text_hash: entry.textHash,
          dims: entry.vector.length,
          vector: vectorBytes(entry.vector),
          model: entry.value.model,
          value: storableJson(rest),
          cost_usd: costUsd,
          expires_at: sql<Date>`now() + make_interval(secs => ${ttlSeconds})`,
        })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'scope', 'text_hash']).doUpdateSet((eb) => ({
            dims: eb.ref('excluded.dims'),
            vector: eb.ref('excluded.vector'),
            model: eb.ref('excluded.model'),
            value: eb.ref('excluded.value'),
            cost_usd: eb.ref('excluded.cost_usd'),
            created_at: sql<Date>`now()`,
            expires_at: eb.ref('excluded.expires_at'),
          })),
        )
        .execute();
    },

    /** Deletes every expired entry; returns how many. */
    async purgeExpired() {
      const result = await db.deleteFrom('llm_semantic_cache').where('expires_at', '<=', sql<Date>`now()`).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

/** The table of the router's semantic cache (0011_semantic_cache), apart so that db/schema.ts stays one line longer. */
import type { ColumnType, JSONColumnType } from 'kysely';

/** A stored answer of the semantic cache: one per tenant, scope and text hash, until `expires_at`. */
export interface LlmSemanticCacheTable {
  tenant_id: string;
  /** sha256 of everything but the wording of the last user message (router/semantic-key.ts). */
  scope: string;
  text_hash: string;
  dims: number;
  /** float32 little-endian, unit length. */
  vector: Buffer;
  model: string;
  value: JSONColumnType<Record<string, unknown>>;
  cost_usd: ColumnType<string, number | string, number | string>;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
  expires_at: ColumnType<Date, Date | string, Date | string>;
}

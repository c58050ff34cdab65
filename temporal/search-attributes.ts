/**
 * Registers the custom search attributes (tenant, agent, status) on the
 * namespace if they are missing, so that a fresh server or cluster works
 * without a manual `temporal operator search-attribute create`.
 */
import type { Connection } from '@temporalio/client';

/** Either connection kind: the client's or a worker's NativeConnection. */
type WithOperator = Pick<Connection, 'operatorService'>;
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../domain/temporal-names.js';

const KEYWORD = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

export async function ensureSearchAttributes(connection: WithOperator, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.values(SEARCH_ATTRIBUTES).filter((name) => !known.has(name));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
    });
  } catch (err) {
    // Another process registered them at the same moment.
    if (!/already exists/i.test((err as Error).message)) throw err;
  }
  return missing;
}

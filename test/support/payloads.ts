/** The payloads of a Temporal history, for tests and recorders that check what the codec did to them. */
import type { Payload } from '@temporalio/common';

/**
 * Every payload of a history that the codec sees: inputs, results, signals, updates, queries' answers,
 * failures' details. Not the ones Temporal must read itself or the SDK keeps out of codecs: search
 * attributes (status, tenant: indexed by the server), headers (trace context), and patch markers.
 */
export function codecPayloadsOf(node: unknown, out: Payload[] = []): Payload[] {
  if (!node || typeof node !== 'object' || ArrayBuffer.isView(node)) return out;
  const obj = node as Record<string, unknown>;
  if (obj.metadata && typeof obj.metadata === 'object' && 'data' in obj && !Array.isArray(obj.metadata)) out.push(obj as Payload);
  if (obj.markerName === 'core_patch') return out;
  for (const [key, value] of Object.entries(obj)) if (key !== 'searchAttributes' && key !== 'header') codecPayloadsOf(value, out);
  return out;
}

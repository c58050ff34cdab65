/**
 * Canonical JSON in the style of RFC 8785 (JCS): object keys sorted by their
 * UTF-16 code units, no whitespace, numbers in ECMAScript's shortest form
 * (what JSON.stringify writes), strings escaped as JSON.stringify escapes
 * them. Equal content gives equal bytes, so its sha256 can name it (agent
 * versions; policy versions may use the same). Bottom layer: imports nothing
 * of the project, and is safe in workflow code (no Node APIs).
 */

/** A value canonical JSON cannot carry (NaN, Infinity, a function, a bigint, a cycle). */
export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path || 'value'}: ${value} has no JSON form`);
    // -0 is 0 in RFC 8785; JSON.stringify already writes it so.
    return JSON.stringify(value);
  }
  if (typeof value !== 'object') throw new CanonicalJsonError(`${path || 'value'}: a ${typeof value} has no JSON form`);
  if (seen.has(value)) throw new CanonicalJsonError(`${path || 'value'}: a cycle`);
  seen.add(value);
  let out: string;
  if (Array.isArray(value)) {
    // As JSON.stringify: an undefined entry is null (the length is part of the content).
    out = `[${value.map((v, i) => (v === undefined ? 'null' : write(v, `${path}[${i}]`, seen))).join(',')}]`;
  } else {
    const json = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof json === 'function') {
      out = write(json.call(value), path, seen);
    } else {
      // Absent and undefined are the same content. Default sort compares UTF-16 code units, as RFC 8785 asks.
      const keys = Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      out = `{${keys.map((k) => `${JSON.stringify(k)}:${write((value as Record<string, unknown>)[k], path ? `${path}.${k}` : k, seen)}`).join(',')}}`;
    }
  }
  seen.delete(value);
  return out;
}

/** The canonical JSON text of a value; throws CanonicalJsonError for what JSON cannot hold. */
export function canonicalJson(value: unknown): string {
  return write(value, '', new Set());
}

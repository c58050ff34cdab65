import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError } from '../../domain/canonical-json.js';

describe('canonical JSON (RFC 8785 style)', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('gives equal text for equal content written in another key order', () => {
    const one = { tools: ['shell'], limits: { maxSteps: 3, maxCostUsd: 1 }, policy: 'standard' };
    const two = { policy: 'standard', limits: { maxCostUsd: 1, maxSteps: 3 }, tools: ['shell'] };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
    // The order of a list is content: it is kept.
    expect(canonicalJson({ tools: ['shell', 'read_file'] })).not.toBe(canonicalJson({ tools: ['read_file', 'shell'] }));
  });

  it('sorts keys by UTF-16 code units, as RFC 8785 does (not by locale)', () => {
    // The RFC's own example order: "\r" < "1" < "\u0080" < "\u00f6" < "\u20ac" < "\ud83d\ude00" < "\ufb33".
    const value = { '\ufb33': 7, '\u20ac': 5, '\r': 1, '\ud83d\ude00': 6, '1': 2, '\u00f6': 4, '\u0080': 3 };
    expect(canonicalJson(value)).toBe('{"\\r":1,"1":2,"\u0080":3,"\u00f6":4,"\u20ac":5,"\ud83d\ude00":6,"\ufb33":7}');
  });

  it('keeps non-ASCII text as it is and escapes only what JSON must', () => {
    expect(canonicalJson({ s: 'é "q" \\ \n\u0001 ✓' })).toBe('{"s":"é \\"q\\" \\\\ \\n\\u0001 ✓"}');
  });

  it('writes numbers in their shortest ECMAScript form', () => {
    expect(canonicalJson([1.0, 0.1, 1e21, 1e-7, -0, 5e-324, 123456789012345680000])).toBe('[1,0.1,1e+21,1e-7,0,5e-324,123456789012345680000]');
  });

  it('drops undefined members, as absent ones, and writes undefined list entries as null', () => {
    expect(canonicalJson({ a: undefined, b: null, c: [undefined] })).toBe('{"b":null,"c":[null]}');
  });

  it('refuses what JSON cannot hold instead of writing something else', () => {
    expect(() => canonicalJson({ limits: { maxCostUsd: Number.NaN } })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ n: Infinity })).toThrow(/limits|n: Infinity/);
    expect(() => canonicalJson({ n: 10n })).toThrow(CanonicalJsonError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow(/cycle/);
  });

  it('hashes to a stable sha256 (a version name must not drift between releases)', () => {
    const sha = createHash('sha256').update(canonicalJson({ policy: 'standard', tools: [], systemPrompt: 'hi' })).digest('hex');
    expect(sha).toBe(createHash('sha256').update('{"policy":"standard","systemPrompt":"hi","tools":[]}').digest('hex'));
  });
});

/**
 * Masking of secret values in tool output (secrets/mask.ts): each encoding a
 * command could print a value in, at any alignment inside longer encoded
 * data, a value cut at the output cap, and values too short to mask.
 */
import { describe, expect, it } from 'vitest';
import { SecretMasker, secretForms } from '../../secrets/mask.js';

const value = 'ghp_S3cr3t/Valu+e wîth späce';
const masker = new SecretMasker([{ name: 'github-token', value }]);
const LABEL = '[masked secret github-token]';

describe('SecretMasker', () => {
  it('masks the value as written, base64 (standard and URL-safe), URL-encoded (both hex cases, + for space), hex and JSON-escaped', () => {
    const b64 = Buffer.from(value).toString('base64');
    const encodings = [
      value,
      b64,
      b64.replace(/=+$/, ''),
      b64.replace(/\+/g, '-').replace(/\//g, '_'),
      encodeURIComponent(value),
      encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      new URLSearchParams({ v: value }).toString().slice(2),
      Buffer.from(value).toString('hex'),
      Buffer.from(value).toString('hex').toUpperCase(),
      JSON.stringify(value).slice(1, -1),
    ];
    for (const e of encodings) {
      const out = masker.mask(`before ${e} after`);
      expect(out, e).toContain(LABEL);
      expect(out, e).not.toContain(e);
    }
  });

  it('masks base64 of a value inside longer data at each byte alignment (a basic-auth pair, a trailing newline)', () => {
    for (const data of [`user:${value}`, `ab${value}xyz`, `${value}\n`, `a${value}`]) {
      const out = masker.mask(Buffer.from(data).toString('base64'));
      expect(out, data).toContain(LABEL);
      // What is left around the label is a few characters of the neighbours, never a decodable run of the value.
      expect(out.replace(LABEL, '').length, data).toBeLessThan(12);
    }
  });

  it('masks the start of a value cut at the end of the output, and the end of one at the start of a kept tail', () => {
    const cut = `lots of output ${value.slice(0, 9)}`;
    expect(masker.mask(cut)).toBe(cut);
    expect(masker.mask(cut, { end: true })).toBe(`lots of output ${LABEL}`);
    expect(masker.mask(`${value.slice(-8)} tail`, { start: true })).toBe(`${LABEL} tail`);
  });

  it('masks every string of a tool result, keys and nested values, and leaves other values alone', () => {
    const result = { ok: true, stdout: `token=${value}\n`, stderr: '', nested: [{ [value]: 3 }], exit_code: 0 };
    const out = masker.maskValue(result);
    expect(JSON.stringify(out)).not.toContain('S3cr3t');
    expect(out.ok).toBe(true);
    expect(out.exit_code).toBe(0);
    expect(out.stdout).toBe(`token=${LABEL}\n`);
  });

  it('does not mask values too short to be told from ordinary output, and masks longer names first', () => {
    expect(secretForms('abc')).toEqual([]);
    const two = new SecretMasker([
      { name: 'short', value: 'secret' },
      { name: 'long', value: 'secret-and-more' },
    ]);
    expect(two.mask('x secret-and-more secret y')).toBe('x [masked secret long] [masked secret short] y');
  });

  it('handles NUL bytes, lone surrogates and a large output', () => {
    const odd = new SecretMasker([{ name: 'odd', value: 'nul\u0000and\ud800x' }]);
    expect(odd.mask('a nul\u0000and\ud800x b')).toBe('a [masked secret odd] b');
    const big = `${'x'.repeat(2_000_000)}${value}${'y'.repeat(10)}`;
    expect(masker.mask(big).endsWith(`${LABEL}yyyyyyyyyy`)).toBe(true);
  });
});

describe('SecretMasker.maskBytes', () => {
  it('masks values in bytes (an artifact, binary output) and leaves every other byte as it was', () => {
    const binary = Buffer.concat([Buffer.from([0xff, 0x00, 0xfe]), Buffer.from(value), Buffer.from([0x80, 0x81])]);
    const out = masker.maskBytes(binary);
    expect(out.subarray(0, 3)).toEqual(Buffer.from([0xff, 0x00, 0xfe]));
    expect(out.subarray(-2)).toEqual(Buffer.from([0x80, 0x81]));
    expect(out.includes(Buffer.from(value))).toBe(false);
    expect(out.toString('latin1')).toContain(LABEL);
  });
});

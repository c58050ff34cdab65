/** temporal/worker-options.ts: a worker's prebuilt bundle, passed to the SDK by path, and the bundle's code kept one byte per character. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { oneByteCode, workflowBundleAt } from '../../temporal/worker-options.js';

describe('workflowBundleAt', () => {
  it('answers the absolute path (the SDK then keeps the code as read, no patched copy) and no code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bundle-at-'));
    try {
      const file = join(dir, 'workflow-bundle.js');
      writeFileSync(file, 'var __TEMPORAL__;');
      expect(await workflowBundleAt(relative(process.cwd(), file))).toEqual({ codePath: file });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops the start naming the variable when the file is missing', async () => {
    await expect(workflowBundleAt('/nonexistent/workflow-bundle.js')).rejects.toThrow(/\/nonexistent\/workflow-bundle\.js \(WORKFLOW_BUNDLE_PATH\) is not readable: ENOENT/);
  });
});

describe('oneByteCode', () => {
  // Indirect eval: the transformed source runs as a script of its own.
  const run = (source: string): unknown => (0, eval)(oneByteCode(source));

  it('leaves no character above U+00FF, and Latin-1 as it is', () => {
    const out = oneByteCode("// a → b\nconst s = 'naïve – ok 😀';");
    expect(out).not.toMatch(/[\u0100-\uffff]/);
    expect(out).toContain('naïve');
  });

  it('answers a string V8 keeps at one byte per character, from a two-byte one', () => {
    // V8's serializer writes a string as it is stored: tag 0x22 for one byte per character (two-byte ones are padded
    // to an even offset, then tagged 0x63).
    const oneByte = (text: string) => serialize(text)[2] === 0x22;
    const input = `${'x'.repeat(1_000_000)}→`.repeat(4);
    expect(oneByte(input)).toBe(false);
    // replace() alone would keep a two-byte string, though nothing in it needs two bytes.
    expect(oneByte(input.replace(/→/g, '-'))).toBe(false);
    const out = oneByteCode(input);
    expect(out).toHaveLength(input.length + 4 * 5);
    expect(oneByte(out)).toBe(true);
  });

  it('means the same in strings, templates, regular expressions and identifiers', () => {
    expect(run("'a…b' + \"–\"")).toBe('a…b–');
    expect(run('`x→${1}y`')).toBe('x→1y');
    expect(run("/^[–—]+$/.test('—–')")).toBe(true);
    expect(run("/^😀$/u.test('😀') && /^.$/u.test('😀')")).toBe(true);
    expect(run("(() => { const café = 1; const ĉ = 2; return café + ĉ; })()")).toBe(3);
  });

  it('keeps escapes: an identity escape is the character, an escaped backslash stays one', () => {
    expect(run("'\\…'")).toBe('…');
    expect(run("'\\\\…'")).toBe('\\…');
    expect(run("'\\\\\\…'")).toBe('\\…');
  });
});

/**
 * The framed output of sandbox/exec.sh: a header line
 * `KORTIX-EXEC <rc> <timedout> <outBytes> <errBytes>`, then at most LIMIT
 * bytes of stdout, then at most LIMIT bytes of stderr.
 */
import { describe, expect, it } from 'vitest';
import { parseExecOutput } from '../../sandbox/exec-script.js';

const LIMIT = 64;

/** What the script prints: sizes as captured (up to limit + 1), bodies cut at the limit. */
function frame(rc: number, timedOut: boolean, stdout: string, stderr: string, limit = LIMIT): Buffer {
  const out = Buffer.from(stdout, 'utf8');
  const err = Buffer.from(stderr, 'utf8');
  const size = (b: Buffer) => Math.min(b.length, limit + 1);
  return Buffer.concat([
    Buffer.from(`KORTIX-EXEC ${rc} ${timedOut ? 1 : 0} ${size(out)} ${size(err)}\n`),
    out.subarray(0, limit),
    err.subarray(0, limit),
  ]);
}

describe('parseExecOutput', () => {
  it('splits stdout from stderr by their byte counts', () => {
    expect(parseExecOutput(frame(0, false, 'line 1\nline 2\n', 'warning\n'), LIMIT)).toEqual({
      exitCode: 0,
      timedOut: false,
      stdout: 'line 1\nline 2\n',
      stderr: 'warning\n',
      truncated: false,
    });
  });

  it('counts bytes, not characters, for multi-byte UTF-8', () => {
    const result = parseExecOutput(frame(3, false, 'héllo € 😀', 'üñí'), LIMIT);
    expect(result).toEqual({ exitCode: 3, timedOut: false, stdout: 'héllo € 😀', stderr: 'üñí', truncated: false });
  });

  it('keeps empty streams empty', () => {
    expect(parseExecOutput(frame(1, false, '', 'only stderr'), LIMIT)).toMatchObject({ stdout: '', stderr: 'only stderr' });
    expect(parseExecOutput(frame(0, false, 'only stdout', ''), LIMIT)).toMatchObject({ stdout: 'only stdout', stderr: '' });
  });

  it('flags truncation when a stream exceeds the limit, and keeps the first LIMIT bytes of each', () => {
    const result = parseExecOutput(frame(0, false, 'a'.repeat(100), 'b'.repeat(10), 8), 8);
    // The captured sizes (at most LIMIT + 1 here) come with a truncated result: the activity keeps the whole output from them.
    expect(result).toEqual({ exitCode: 0, timedOut: false, stdout: 'aaaaaaaa', stderr: 'bbbbbbbb', truncated: true, stdoutBytes: 9, stderrBytes: 9 });
    expect(parseExecOutput(frame(0, false, 'x', 'y'.repeat(9), 8), 8)).toMatchObject({ stdout: 'x', stderr: 'y'.repeat(8), truncated: true });
  });

  it('does not flag output of exactly the limit', () => {
    expect(parseExecOutput(frame(0, false, 'a'.repeat(8), 'b'.repeat(8), 8), 8)?.truncated).toBe(false);
  });

  it('reports a timed-out command with a null exit code', () => {
    expect(parseExecOutput(frame(137, true, 'partial', ''), LIMIT)).toEqual({
      exitCode: null,
      timedOut: true,
      stdout: 'partial',
      stderr: '',
      truncated: false,
    });
  });

  it.each([
    ['an empty buffer', ''],
    ['output without a newline', 'KORTIX-EXEC 0 0 0 0'],
    ['another program’s output', 'hello world\n'],
    ['a header with too few fields', 'KORTIX-EXEC 0 0 5\nhello'],
    ['a header with too many fields', 'KORTIX-EXEC 0 0 5 0 9\nhello'],
    ['a lowercase marker', 'kortix-exec 0 0 0 0\n'],
  ])('returns undefined for %s', (_label, raw) => {
    expect(parseExecOutput(Buffer.from(raw), LIMIT)).toBeUndefined();
  });
});

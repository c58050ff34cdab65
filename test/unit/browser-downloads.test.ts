/** The name a browser download is saved under (sandbox/browser-downloads.ts): one plain, visible file name, whatever a server suggests. */
import { describe, expect, it } from 'vitest';
import { MAX_DOWNLOAD_NAME_BYTES, downloadName } from '../../sandbox/browser-downloads.js';

describe('downloadName', () => {
  it('keeps an ordinary name', () => {
    expect(downloadName('report.pdf')).toBe('report.pdf');
    expect(downloadName('Quartalszahlen März.xlsx')).toBe('Quartalszahlen März.xlsx');
  });

  it('never leaves the downloads directory: separators and dot names become plain characters', () => {
    expect(downloadName('../../etc/x')).toBe('_.._etc_x');
    expect(downloadName('..\\..\\windows\\x.dll')).toBe('_.._windows_x.dll');
    for (const bad of ['.', '..', '...', '', '   ', '/']) expect(downloadName(bad)).toMatch(/^(download|_)$/);
    expect(downloadName('/etc/passwd')).toBe('_etc_passwd');
  });

  it('hides nothing: no hidden files, NUL, control, bidi or zero-width characters, lone surrogates', () => {
    expect(downloadName('.bashrc')).toBe('bashrc');
    expect(downloadName('a\0b\n.txt')).toBe('a_b_.txt');
    expect(downloadName('invoice\u202Efdp.exe')).toBe('invoice_fdp.exe');
    expect(downloadName('zero\u200Bwidth.txt')).toBe('zero_width.txt');
    expect(downloadName('half\uD800.txt')).toBe('half_.txt');
    expect(downloadName('trailing. . ')).toBe('trailing');
  });

  it('fits a file system, keeping a short extension', () => {
    const long = downloadName(`${'n'.repeat(1000)}.txt`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(MAX_DOWNLOAD_NAME_BYTES);
    expect(long).toMatch(/^n+\.txt$/);
    const wide = downloadName(`${'雪'.repeat(400)}.csv`);
    expect(Buffer.byteLength(wide)).toBeLessThanOrEqual(MAX_DOWNLOAD_NAME_BYTES);
    expect(wide.endsWith('.csv')).toBe(true);
    expect(downloadName(`${'x'.repeat(300)}.${'e'.repeat(40)}`).length).toBeLessThanOrEqual(MAX_DOWNLOAD_NAME_BYTES);
  });
});

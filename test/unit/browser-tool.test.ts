/** The browser tool's arguments as the workflow checks them (sandbox/browser-tool.ts via parseToolCall). */
import { describe, expect, it } from 'vitest';
import { parseToolCall, toolDefinitions } from '../../sandbox/tools.js';
import { policySchema } from '../../policies/schema.js';

const parse = (args: unknown) => parseToolCall('browser', JSON.stringify(args));

describe('browser tool arguments', () => {
  it('accepts each action with the fields it needs, and fills the default timeout', () => {
    expect(parse({ action: 'goto', url: 'https://example.com' })).toEqual({
      ok: true,
      call: { name: 'browser', args: { action: 'goto', url: 'https://example.com/', timeout_seconds: 15 } },
    });
    expect(parse({ action: 'click', link: 3 })).toMatchObject({ ok: true, call: { args: { action: 'click', link: 3 } } });
    expect(parse({ action: 'click', text: 'Sign in' })).toMatchObject({ ok: true, call: { args: { text: 'Sign in' } } });
    expect(parse({ action: 'type', selector: '#u', text: '' })).toMatchObject({ ok: true, call: { args: { selector: '#u', text: '' } } });
    expect(parse({ action: 'press', key: 'Enter' })).toMatchObject({ ok: true });
    expect(parse({ action: 'press', key: 'é' })).toMatchObject({ ok: true });
    expect(parse({ action: 'tabs' })).toMatchObject({ ok: true, call: { args: { op: 'list' } } });
    expect(parse({ action: 'tabs', op: 'switch', index: 2 })).toMatchObject({ ok: true, call: { args: { op: 'switch', index: 2 } } });
    for (const action of ['extract', 'screenshot', 'back']) expect(parse({ action })).toMatchObject({ ok: true });
  });

  it('says what is wrong, for the model to read', () => {
    expect(parse({})).toEqual({ ok: false, error: expect.stringMatching(/^argument "action" must be one of goto, click/) });
    expect(parse({ action: 'goto' })).toEqual({ ok: false, error: 'goto needs "url"' });
    expect(parse({ action: 'extract', url: 'x' })).toEqual({ ok: false, error: 'extract takes no argument "url"' });
    expect(parse({ action: 'click' })).toEqual({ ok: false, error: 'click needs exactly one of "selector", "text" or "link"' });
    expect(parse({ action: 'click', text: 'a', link: 1 })).toMatchObject({ ok: false });
    expect(parse({ action: 'click', link: 0 })).toMatchObject({ ok: false, error: expect.stringMatching(/"link" must be an integer/) });
    expect(parse({ action: 'press', key: 'F13' })).toMatchObject({ ok: false, error: expect.stringMatching(/"key" must be one of/) });
    expect(parse({ action: 'tabs', op: 'close' })).toMatchObject({ ok: false, error: expect.stringMatching(/"index" must be an integer/) });
    expect(parse({ action: 'goto', url: 'https://x.test', timeout_seconds: 61 })).toMatchObject({ ok: false });
  });

  it('refuses hostile text: NUL, lone surrogates, huge input, schemes the browser must not open', () => {
    expect(parseToolCall('browser', '{"action":"type","selector":"#u","text":"a\\u0000b"}')).toEqual({ ok: false, error: 'argument "text" contains a NUL byte' });
    expect(parseToolCall('browser', '{"action":"type","selector":"#u","text":"a\\ud800b"}')).toEqual({ ok: false, error: 'argument "text" contains a lone surrogate' });
    expect(parse({ action: 'type', selector: '#u', text: 'x'.repeat(10_001) })).toMatchObject({ ok: false, error: expect.stringMatching(/longer than 10000/) });
    expect(parse({ action: 'click', selector: 'a'.repeat(1001) })).toMatchObject({ ok: false });
    for (const url of ['file:///etc/passwd', 'chrome://settings', 'devtools://devtools/x', 'javascript:alert(1)', 'file:///workspace/../etc/passwd']) {
      expect(parse({ action: 'goto', url })).toMatchObject({ ok: false, error: expect.stringMatching(/^navigation refused: /) });
    }
    expect(parse({ action: 'goto', url: 'file:///workspace/report.html' })).toMatchObject({ ok: true });
  });

  it('is offered only when a policy names it: the default tools stay the four', () => {
    expect(policySchema.parse({ name: 'p' }).tools).toEqual(['shell', 'write_file', 'read_file', 'list_files']);
    expect(policySchema.parse({ name: 'p', tools: ['browser'] }).tools).toEqual(['browser']);
    const [def] = toolDefinitions(['browser']);
    expect(def?.function.name).toBe('browser');
    expect(def?.function.parameters).toMatchObject({ required: ['action'], additionalProperties: false });
  });
});

describe('browser goto and the policy', () => {
  it('leaves the host to the policy: an internal address literal is the form of a URL, not a refusal here', () => {
    expect(parse({ action: 'goto', url: 'http://192.0.2.2:8080/login' })).toMatchObject({ ok: true, call: { args: { url: 'http://192.0.2.2:8080/login' } } });
    expect(parse({ action: 'goto', url: 'http://user:pw@example.com/' })).toMatchObject({ ok: false, error: expect.stringMatching(/user:password@/) });
  });
});

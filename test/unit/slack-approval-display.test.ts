/**
 * What approvers see: the shared rendering (sha256, flags, hidden characters
 * made visible), the Slack gate message built on it (whole command, `&<>`
 * escaped, chunked, a file when too long), and the files.uploadV2 flow
 * against the local fake Slack.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalDisplay, displayText } from '../../policies/approval-display.js';
import { SlackClient } from '../../slack/client.js';
import { codeChunks, MAX_INLINE_CHUNKS, renderGateMessage } from '../../slack/gate-message.js';
import { FakeSlack } from '../support/fake-slack.js';
import { gateView } from '../support/gate-view.js';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** An open gate whose requester would mention someone if Slack read it as markup. */
const gate = gateView({ id: 'gate-7', arguments: { command: 'ls' }, ruleId: 'shell-dynamic', requester: 'alice <@U0ADMIN>' });

describe('approvalDisplay', () => {
  it('hashes the shell command itself and flags nothing in plain ASCII', () => {
    const d = approvalDisplay('shell', { command: 'ls -la' });
    expect(d).toEqual({ subject: 'ls -la', sha256: sha256('ls -la'), bytes: 6, flags: [], safe: 'ls -la' });
  });

  it('uses canonical JSON of the arguments for the other tools', () => {
    const d = approvalDisplay('write_file', { path: 'a.txt', content: 'x' });
    expect(d.subject).toBe('{"content":"x","path":"a.txt"}');
    expect(d.sha256).toBe(sha256(d.subject));
  });

  it.each([
    ['bidi override', 'cat \u202Etxt.exe', 'cat <U+202E>txt.exe', ['non_ascii', 'bidi']],
    ['bidi isolate', 'a\u2066b\u2069', 'a<U+2066>b<U+2069>', ['non_ascii', 'bidi']],
    ['zero-width space', 'r\u200Bm', 'r<U+200B>m', ['non_ascii', 'zero_width']],
    ['BOM', '\uFEFFls', '<U+FEFF>ls', ['non_ascii', 'zero_width']],
    ['C0 controls (escape, carriage return)', 'ls\u001b[2K\rok', 'ls<U+001B>[2K<U+000D>ok', ['control']],
    ['C1 control', 'a\u009Bb', 'a<U+009B>b', ['non_ascii', 'control']],
    ['a lone surrogate', 'a\uD800b', 'a<U+D800>b', ['non_ascii', 'control']],
    ['plain non-ASCII, shown as is', 'echo café', 'echo café', ['non_ascii']],
    ['tab and newline, shown as is', 'a\tb\nc', 'a\tb\nc', []],
    ['a literal "<U+" that would look like a mark', 'echo <U+202E>', 'echo <U+003C>U+202E>', []],
  ])('makes %s visible and flags it', (_label, text, safe, flags) => {
    expect(displayText(text)).toEqual({ safe, flags });
  });
});

describe('the Slack gate message', () => {
  const links = { session: 'http://api/v1/sessions/ses_1', temporalUi: 'http://ui/x' };
  const render = (command: string) => renderGateMessage('#approvals', 'ses_1', { ...gate, arguments: { command } }, links);
  const texts = (blocks: readonly unknown[]) => blocks.map((b) => (b as { text?: { text?: string } }).text?.text ?? '');

  it('shows the whole 16 KiB command inline, across code sections of at most 3,000 characters', () => {
    const command = `echo ${'x'.repeat(16 * 1024 - 10)} END`;
    const msg = render(command);
    const code = texts(msg.blocks).filter((t) => t.startsWith('```'));
    expect(code.length).toBeGreaterThan(1);
    expect(code.length).toBeLessThanOrEqual(MAX_INLINE_CHUNKS);
    for (const t of code) expect(t.length).toBeLessThanOrEqual(3_000);
    expect(code.map((t) => t.slice(3, -3)).join('')).toBe(command);
    expect(msg.files).toBeUndefined();
  });

  it('states the byte count and sha256 of the command', () => {
    const command = 'rm -rf /workspace/.cache';
    expect(texts(render(command).blocks).join('\n')).toContain(`${command.length} bytes · sha256 \`${sha256(command)}\``);
  });

  it('escapes & < > everywhere Slack would read them as markup, the requester included', () => {
    const all = texts(render('cat <a.txt >b.txt && echo <!channel>').blocks).join('\n') + JSON.stringify(render('ls').blocks);
    expect(all).toContain('cat &lt;a.txt &gt;b.txt &amp;&amp; echo &lt;!channel&gt;');
    expect(all).toContain('alice &lt;@U0ADMIN&gt;');
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<@U0ADMIN>');
  });

  it('flags bidi and zero-width characters and shows them as <U+XXXX>', () => {
    const all = texts(render('echo \u202Egnp.exe\u200B').blocks).join('\n');
    expect(all).toContain(':warning: contains non-ascii, bidi, zero-width characters');
    expect(all).toContain('echo &lt;U+202E&gt;gnp.exe&lt;U+200B&gt;');
    expect(all).not.toMatch(/[\u202E\u200B]/);
  });

  it('never cuts a <U+XXXX> mark or an entity between sections, and keeps ``` from closing the block', () => {
    const chunks = codeChunks(`${'a'.repeat(2_897)}<U+202E>&\`\`\`b`);
    expect(chunks[0]).toBe(`\`\`\`${'a'.repeat(2_897)}\`\`\``);
    expect(chunks[1]).toBe("```&lt;U+202E&gt;&amp;`&lt;U+0060&gt;`b```");
  });

  it('puts a command too long to show inline in a file, with its first part inline', () => {
    // Every character is made visible (8 characters each): far over six sections.
    const command = '\u200B'.repeat(16 * 1024);
    const msg = render(command);
    expect(texts(msg.blocks).filter((t) => t.startsWith('```'))).toHaveLength(1);
    expect(texts(msg.blocks).join('\n')).toContain('the whole text is in the file gate-7.txt');
    expect(msg.files).toEqual([
      { filename: 'gate-7.txt', title: `Command of gate gate-7 (sha256 ${sha256(command)})`, content: '<U+200B>'.repeat(16 * 1024) },
    ]);
  });
});

describe('SlackClient against the fake Slack', () => {
  const slack = new FakeSlack();
  beforeAll(() => slack.start());
  afterAll(() => slack.close());

  it('uploads a long command with files.uploadV2 (upload URL, bytes, complete into the channel), then posts', async () => {
    const client = new SlackClient({ baseUrl: slack.url, token: () => 'xoxb-test' });
    const command = `echo ${'\u2066'.repeat(4_000)}`;
    const message = renderGateMessage('#approvals', 'ses_1', { ...gate, id: 'gate-9', arguments: { command } }, { session: 'http://api/s', temporalUi: 'http://ui/x' });
    const posted = await client.postMessage(message);
    expect(posted).toEqual({ channel: 'C0APPROVALS', ts: expect.any(String) });
    expect(slack.calls.map((c) => c.method)).toEqual(['files.getUploadURLExternal', 'files.completeUploadExternal', 'chat.postMessage']);
    expect(slack.calls[0]?.authorization).toBe('Bearer xoxb-test');
    const upload = slack.uploads[0];
    expect(upload).toMatchObject({ filename: 'gate-9.txt', channel: '#approvals', title: expect.stringContaining(sha256(command)) });
    expect(upload?.content).toBe(`echo ${'<U+2066>'.repeat(4_000)}`);
  });
});

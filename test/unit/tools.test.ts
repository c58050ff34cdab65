/**
 * Tool calls as the model sends them: argument parsing, defaults, refusal of
 * bad input with a message the model can act on, workspace path rules, and
 * the definitions the model is shown.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_COMMAND_LENGTH,
  MAX_PATH_LENGTH,
  parseToolCall,
  toolDefinitions,
  type ParsedToolCall,
} from '../../sandbox/tools.js';

/** The error of a refused call (fails the test if the call was accepted). */
function errorOf(result: ParsedToolCall): string {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.call)}`);
  return result.error;
}

describe('parseToolCall: valid calls', () => {
  it('parses shell with the default timeout of 60 seconds', () => {
    expect(parseToolCall('shell', '{"command":"ls -la"}')).toEqual({
      ok: true,
      call: { name: 'shell', args: { command: 'ls -la', timeout_seconds: 60 } },
    });
  });

  it('keeps an explicit shell timeout within 1..600', () => {
    for (const t of [1, 600]) {
      expect(parseToolCall('shell', JSON.stringify({ command: 'sleep 1', timeout_seconds: t }))).toEqual({
        ok: true,
        call: { name: 'shell', args: { command: 'sleep 1', timeout_seconds: t } },
      });
    }
  });

  it('treats a null timeout as the default (strict-mode models send null for optional fields)', () => {
    expect(parseToolCall('shell', '{"command":"ls","timeout_seconds":null}')).toMatchObject({
      ok: true,
      call: { args: { timeout_seconds: 60 } },
    });
  });

  it('parses write_file, read_file and list_files', () => {
    expect(parseToolCall('write_file', '{"path":"notes/a.md","content":"# hi\\n"}')).toEqual({
      ok: true,
      call: { name: 'write_file', args: { path: 'notes/a.md', content: '# hi\n' } },
    });
    expect(parseToolCall('read_file', '{"path":"notes/a.md"}')).toEqual({
      ok: true,
      call: { name: 'read_file', args: { path: 'notes/a.md' } },
    });
    expect(parseToolCall('list_files', '{"path":"notes"}')).toEqual({
      ok: true,
      call: { name: 'list_files', args: { path: 'notes' } },
    });
  });

  it('accepts empty file content', () => {
    expect(parseToolCall('write_file', '{"path":"empty","content":""}')).toMatchObject({ ok: true, call: { args: { content: '' } } });
  });

  it('lists the workspace root when list_files has no path, even with blank arguments', () => {
    const root = { ok: true, call: { name: 'list_files', args: { path: '.' } } };
    expect(parseToolCall('list_files', '{}')).toEqual(root);
    expect(parseToolCall('list_files', '')).toEqual(root);
    expect(parseToolCall('list_files', '  ')).toEqual(root);
  });
});

describe('parseToolCall: refusals', () => {
  it('refuses malformed JSON, quoting the arguments', () => {
    expect(errorOf(parseToolCall('shell', '{"command": "echo hi"'))).toBe(
      'arguments of shell are not valid JSON: {"command": "echo hi"',
    );
  });

  it('quotes at most 200 characters of malformed arguments', () => {
    const error = errorOf(parseToolCall('shell', `{${'x'.repeat(1000)}`));
    expect(error.length).toBeLessThan(260);
  });

  it.each(['[]', '"ls"', '42', 'null', 'true'])('refuses non-object JSON %s', (raw) => {
    expect(errorOf(parseToolCall('shell', raw))).toBe('arguments of shell must be a JSON object');
  });

  it('refuses an unknown tool, listing the available ones', () => {
    expect(errorOf(parseToolCall('teleport', '{}'))).toBe(
      'unknown tool "teleport"; available tools: browser, list_files, read_artifact, read_file, request_network, save_result, shell, write_file',
    );
  });

  it.each([
    ['{}', 'argument "command" must be a string'],
    ['{"command":42}', 'argument "command" must be a string'],
    ['{"command":""}', 'argument "command" is empty'],
    ['{"command":"  \\n\\t"}', 'argument "command" is empty'],
  ])('refuses a missing or empty command %s', (raw, error) => {
    expect(errorOf(parseToolCall('shell', raw))).toBe(error);
  });

  it('refuses a command longer than the limit', () => {
    const command = 'x'.repeat(MAX_COMMAND_LENGTH + 1);
    expect(errorOf(parseToolCall('shell', JSON.stringify({ command })))).toMatch(/"command" is longer than 16384/);
    expect(parseToolCall('shell', JSON.stringify({ command: command.slice(1) })).ok).toBe(true);
  });

  it.each([0, 601, 1.5, '10', -1])('refuses timeout_seconds %j', (timeout) => {
    expect(errorOf(parseToolCall('shell', JSON.stringify({ command: 'ls', timeout_seconds: timeout })))).toBe(
      'argument "timeout_seconds" must be an integer from 1 to 600',
    );
  });

  it('refuses write_file without content or path', () => {
    expect(errorOf(parseToolCall('write_file', '{"path":"a"}'))).toBe('argument "content" must be a string');
    expect(errorOf(parseToolCall('write_file', '{"content":"x"}'))).toBe('argument "path" must be a string');
    expect(errorOf(parseToolCall('read_file', '{}'))).toBe('argument "path" must be a string');
  });
});

describe('workspace paths', () => {
  it.each([
    ['../etc/passwd', 'path must not contain ".."'],
    ['a/../../b', 'path must not contain ".."'],
    ['/workspace/../etc/passwd', 'path must not contain ".."'],
    ['/etc/passwd', 'path must be inside /workspace'],
    ['/workspacefoo/a', 'path must be inside /workspace'],
    ['a\u0000b', 'path contains a NUL byte'],
    ['', 'path is empty'],
  ])('refuses %j', (path, error) => {
    for (const tool of ['read_file', 'list_files', 'write_file']) {
      expect(errorOf(parseToolCall(tool, JSON.stringify({ path, content: '' })))).toBe(error);
    }
  });

  it('refuses a path longer than the limit', () => {
    const path = 'a'.repeat(MAX_PATH_LENGTH + 1);
    expect(errorOf(parseToolCall('read_file', JSON.stringify({ path })))).toMatch(/"path" is longer than 1024/);
  });

  it.each([
    ['/workspace/a/b.txt', 'a/b.txt'],
    ['./x', 'x'],
    ['a//b/./c', 'a/b/c'],
    ['dir/', 'dir'],
    ['/workspace/', '.'],
    ['.', '.'],
    ['..foo/bar..', '..foo/bar..'],
  ])('normalises %j to %j', (path, normalised) => {
    expect(parseToolCall('read_file', JSON.stringify({ path }))).toEqual({
      ok: true,
      call: { name: 'read_file', args: { path: normalised } },
    });
  });
});

describe('toolDefinitions', () => {
  it('returns OpenAI function tools sorted by name', () => {
    const defs = toolDefinitions(['write_file', 'shell', 'read_file', 'list_files']);
    expect(defs.map((d) => d.function.name)).toEqual(['list_files', 'read_file', 'shell', 'write_file']);
    for (const d of defs) {
      expect(d.type).toBe('function');
      expect(d.function.description.length).toBeGreaterThan(10);
      expect(d.function.parameters).toMatchObject({ type: 'object', additionalProperties: false });
    }
  });

  it('declares the required fields of each tool', () => {
    const required = Object.fromEntries(
      toolDefinitions(['write_file', 'shell', 'read_file', 'list_files']).map((d) => [d.function.name, d.function.parameters.required]),
    );
    expect(required).toEqual({ shell: ['command'], write_file: ['path', 'content'], read_file: ['path'], list_files: undefined });
  });

  it('bounds the shell timeout the same way the parser does', () => {
    const [shell] = toolDefinitions(['shell']);
    expect(shell?.function.parameters).toMatchObject({
      properties: { timeout_seconds: { type: 'integer', minimum: 1, maximum: 600 } },
    });
  });

  it('returns only the tools asked for, without changing the input', () => {
    const names = ['shell', 'read_file'] as const;
    expect(toolDefinitions(names).map((d) => d.function.name)).toEqual(['read_file', 'shell']);
    expect(names).toEqual(['shell', 'read_file']);
  });
});

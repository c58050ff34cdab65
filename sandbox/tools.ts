/**
 * The tools a model can call in a session: their JSON Schemas (what the model
 * is told) and the checks of their arguments (what the workflow enforces).
 * Imported by workflow code: no Node builtins, no side effects.
 */
import { READ_ARTIFACT, REQUEST_NETWORK, SAVE_RESULT, type SessionToolName } from '../policies/tool-names.js';
import { BROWSER_DEFINITION, parseBrowserArgs, type BrowserArgs } from './browser-tool.js';
import { requestedHostProblem } from '../policies/host-patterns.js';
import { SECRET_NAME_PATTERN } from '../domain/secret-names.js';
import { ARTIFACT_TOOL_DEFINITIONS, parseReadArtifact, parseSaveResult, type ReadArtifactArgs, type SaveResultArgs } from './artifact-tools.js';

// The workflow checks parsed calls against this name; it takes it with the parser, from here.
export { REQUEST_NETWORK };

/** An OpenAI-style function tool definition. */
export interface ToolDefinition {
  readonly type: 'function';
  readonly function: {
    readonly name: SessionToolName;
    readonly description: string;
    readonly parameters: Readonly<Record<string, unknown>>;
  };
}

export const DEFAULT_SHELL_TIMEOUT_SECONDS = 60;
export const MAX_SHELL_TIMEOUT_SECONDS = 600;
export const MAX_COMMAND_LENGTH = 16 * 1024;
export const MAX_PATH_LENGTH = 1024;
export const MAX_WRITE_BYTES = 1024 * 1024;
export const MAX_REASON_LENGTH = 1000;
/** Secrets one shell call may have mounted. */
export const MAX_MOUNTS = 5;

const DEFINITIONS: Record<SessionToolName, ToolDefinition> = {
  shell: {
    type: 'function',
    function: {
      name: 'shell',
      description:
        'Run a bash command in the session sandbox, in /workspace. Returns exit code, stdout and stderr (capped). No network unless the policy allows hosts.',
      parameters: {
        type: 'object',
        properties: {
          command: { type: 'string', description: 'The bash command line.' },
          timeout_seconds: {
            type: 'integer',
            minimum: 1,
            maximum: MAX_SHELL_TIMEOUT_SECONDS,
            description: `Kill the command and all its children after this many seconds (default ${DEFAULT_SHELL_TIMEOUT_SECONDS}).`,
          },
          mount_secrets: {
            type: 'array',
            items: { type: 'string' },
            maxItems: MAX_MOUNTS,
            description:
              'Names of secrets of this agent that have a mount path: each is written to its file under /run/secrets for this one command ' +
              '(after an approval) and removed right after. Its value is masked in the output.',
          },
        },
        required: ['command'],
        additionalProperties: false,
      },
    },
  },
  write_file: {
    type: 'function',
    function: {
      name: 'write_file',
      description: 'Create or replace a file in the workspace (paths are relative to /workspace).',
      parameters: {
        type: 'object',
        properties: { path: { type: 'string' }, content: { type: 'string' } },
        required: ['path', 'content'],
        additionalProperties: false,
      },
    },
  },
  read_file: {
    type: 'function',
    function: {
      name: 'read_file',
      description: 'Read a text file of the workspace (paths are relative to /workspace).',
      parameters: {
        type: 'object',
        properties: { path: { type: 'string' } },
        required: ['path'],
        additionalProperties: false,
      },
    },
  },
  list_files: {
    type: 'function',
    function: {
      name: 'list_files',
      description: 'List the files under a workspace directory (default: the workspace root).',
      parameters: {
        type: 'object',
        properties: { path: { type: 'string' } },
        additionalProperties: false,
      },
    },
  },
  browser: BROWSER_DEFINITION,
  ...ARTIFACT_TOOL_DEFINITIONS,
  request_network: {
    type: 'function',
    function: {
      name: REQUEST_NETWORK,
      description:
        'Ask for network access to one host from the sandbox. Call it when a request was refused by the egress proxy with "needs approval". ' +
        'Depending on the policy the host is granted at once, after people approve it, or refused; the result says which. Once granted, retry the request.',
      parameters: {
        type: 'object',
        properties: {
          host: { type: 'string', description: 'The host name, e.g. api.example.com (no scheme or path); host:port is accepted too.' },
          port: { type: 'integer', minimum: 1, maximum: 65535, description: 'The port (default: 80 and 443).' },
          reason: { type: 'string', description: 'Why the task needs this host: the approvers read it.' },
        },
        required: ['host', 'reason'],
        additionalProperties: false,
      },
    },
  },
};

/** Definitions of the given tools, in a stable order. */
export function toolDefinitions(names: readonly SessionToolName[]): ToolDefinition[] {
  return [...names].sort().map((name) => DEFINITIONS[name]);
}

/** `mount_secrets`: present only when the call asks for secrets to be mounted (never empty). */
export type ShellArgs = { command: string; timeout_seconds: number; mount_secrets?: string[] };
export type WriteFileArgs = { path: string; content: string };
export type ReadFileArgs = { path: string };
export type ListFilesArgs = { path: string };
/** `port` absent: 80 and 443. */
export type RequestNetworkArgs = { host: string; port?: number; reason: string };

/** A tool call whose arguments passed the checks. */
export type ValidToolCall =
  | { readonly name: 'shell'; readonly args: ShellArgs }
  | { readonly name: 'write_file'; readonly args: WriteFileArgs }
  | { readonly name: 'read_file'; readonly args: ReadFileArgs }
  | { readonly name: 'list_files'; readonly args: ListFilesArgs }
  | { readonly name: 'browser'; readonly args: BrowserArgs }
  | { readonly name: typeof REQUEST_NETWORK; readonly args: RequestNetworkArgs }
  | { readonly name: typeof READ_ARTIFACT; readonly args: ReadArtifactArgs }
  | { readonly name: typeof SAVE_RESULT; readonly args: SaveResultArgs };

export type ParsedToolCall =
  | { readonly ok: true; readonly call: ValidToolCall }
  | { readonly ok: false; readonly error: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A path inside the workspace, normalised: relative, no `..`, no NUL.
 * Returns an error message for anything else. Symlinks are checked in the sandbox.
 */
export function workspacePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'path is empty';
  if (path.length > MAX_PATH_LENGTH) return `path longer than ${MAX_PATH_LENGTH} characters`;
  if (path.includes('\0')) return 'path contains a NUL byte';
  const relative = path === '/workspace' ? '.' : path.startsWith('/workspace/') ? path.slice('/workspace/'.length) : path;
  if (relative.startsWith('/')) return 'path must be inside /workspace';
  if (relative.split('/').includes('..')) return 'path must not contain ".."';
  return undefined;
}

/** Strips `/workspace/` and `./` so that every tool and policy sees the same relative path. */
export function normaliseWorkspacePath(path: string): string {
  const relative = path.startsWith('/workspace/') ? path.slice('/workspace/'.length) : path === '/workspace' ? '.' : path;
  const parts = relative.split('/').filter((p) => p !== '' && p !== '.');
  return parts.length === 0 ? '.' : parts.join('/');
}

function stringField(args: Record<string, unknown>, key: string, max: number): string | { error: string } {
  const v = args[key];
  if (typeof v !== 'string') return { error: `argument "${key}" must be a string` };
  if (v.length > max) return { error: `argument "${key}" is longer than ${max} characters` };
  return v;
}

function pathField(args: Record<string, unknown>, key: string, optional: boolean): string | { error: string } {
  if (optional && args[key] === undefined) return '.';
  const v = stringField(args, key, MAX_PATH_LENGTH);
  if (typeof v !== 'string') return v;
  const problem = workspacePathProblem(v);
  return problem ? { error: problem } : normaliseWorkspacePath(v);
}

/** shell's `mount_secrets`: absent, null or a list of distinct secret names (whether the session may mount them is the workflow's check). */
function mountSecretsField(v: unknown): { names: string[] } | { error: string } {
  if (v === undefined || v === null) return { names: [] };
  const bad = { error: `argument "mount_secrets" must be a list of at most ${MAX_MOUNTS} distinct secret names` };
  if (!Array.isArray(v) || v.length > MAX_MOUNTS) return bad;
  const names: string[] = [];
  for (const n of v) {
    if (typeof n !== 'string' || !SECRET_NAME_PATTERN.test(n) || n.includes('..') || names.includes(n)) return bad;
    names.push(n);
  }
  return { names };
}

/** request_network's arguments: one exact host (`host:port` is read as host and port), an optional port, a reason. */
function parseRequestNetwork(args: Record<string, unknown>): { args: RequestNetworkArgs } | { error: string } {
  const rawHost = stringField(args, 'host', 260);
  if (typeof rawHost !== 'string') return rawHost;
  const split = /^(.*):(\d{1,5})$/.exec(rawHost.trim());
  const host = (split ? (split[1] as string) : rawHost.trim()).toLowerCase().replace(/\.$/, '');
  const problem = requestedHostProblem(host);
  if (problem) return { error: problem };
  const ports = [split ? Number(split[2]) : undefined, args.port].filter((p) => p !== undefined);
  if (ports.some((p) => typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535)) {
    return { error: 'argument "port" must be an integer from 1 to 65535' };
  }
  if (ports.length === 2 && ports[0] !== ports[1]) return { error: `argument "host" names port ${String(ports[0])} but "port" is ${String(ports[1])}` };
  const reason = stringField(args, 'reason', MAX_REASON_LENGTH);
  if (typeof reason !== 'string') return reason;
  if (reason.trim() === '') return { error: 'argument "reason" is empty: say why the task needs this host' };
  const port = ports[0] as number | undefined;
  return { args: { host, ...(port === undefined ? {} : { port }), reason } };
}

/**
 * Parses a model's tool call (name + raw JSON arguments). Malformed JSON, an
 * unknown tool or bad arguments give an error the model will see as the result.
 */
export function parseToolCall(name: string, rawArguments: string): ParsedToolCall {
  let parsed: unknown;
  try {
    parsed = rawArguments.trim() === '' ? {} : JSON.parse(rawArguments);
  } catch {
    return { ok: false, error: `arguments of ${name} are not valid JSON: ${rawArguments.slice(0, 200)}` };
  }
  if (!isRecord(parsed)) return { ok: false, error: `arguments of ${name} must be a JSON object` };
  const args = parsed;
  switch (name) {
    case 'shell': {
      const command = stringField(args, 'command', MAX_COMMAND_LENGTH);
      if (typeof command !== 'string') return { ok: false, error: command.error };
      if (command.trim() === '') return { ok: false, error: 'argument "command" is empty' };
      const t = args.timeout_seconds ?? DEFAULT_SHELL_TIMEOUT_SECONDS;
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_SHELL_TIMEOUT_SECONDS) {
        return { ok: false, error: `argument "timeout_seconds" must be an integer from 1 to ${MAX_SHELL_TIMEOUT_SECONDS}` };
      }
      const mounts = mountSecretsField(args.mount_secrets);
      if ('error' in mounts) return { ok: false, error: mounts.error };
      return { ok: true, call: { name, args: { command, timeout_seconds: t, ...(mounts.names.length > 0 ? { mount_secrets: mounts.names } : {}) } } };
    }
    case 'write_file': {
      const path = pathField(args, 'path', false);
      if (typeof path !== 'string') return { ok: false, error: path.error };
      const content = stringField(args, 'content', MAX_WRITE_BYTES);
      if (typeof content !== 'string') return { ok: false, error: content.error };
      return { ok: true, call: { name, args: { path, content } } };
    }
    case 'read_file':
    case 'list_files': {
      const path = pathField(args, 'path', name === 'list_files');
      if (typeof path !== 'string') return { ok: false, error: path.error };
      return { ok: true, call: { name, args: { path } } };
    }
    case 'browser': {
      const parsedArgs = parseBrowserArgs(args);
      if ('error' in parsedArgs) return { ok: false, error: parsedArgs.error };
      return { ok: true, call: { name, args: parsedArgs.args } };
    }
    case READ_ARTIFACT: {
      const parsedArgs = parseReadArtifact(args);
      if ('error' in parsedArgs) return { ok: false, error: parsedArgs.error };
      return { ok: true, call: { name, args: parsedArgs.args } };
    }
    case SAVE_RESULT: {
      const path = pathField(args, 'path', false);
      if (typeof path !== 'string') return { ok: false, error: path.error };
      const parsedArgs = parseSaveResult(args, path);
      if ('error' in parsedArgs) return { ok: false, error: parsedArgs.error };
      return { ok: true, call: { name, args: parsedArgs.args } };
    }
    case REQUEST_NETWORK: {
      const parsedArgs = parseRequestNetwork(args);
      if ('error' in parsedArgs) return { ok: false, error: parsedArgs.error };
      return { ok: true, call: { name, args: parsedArgs.args } };
    }
    default:
      return { ok: false, error: `unknown tool "${name}"; available tools: ${Object.keys(DEFINITIONS).sort().join(', ')}` };
  }
}

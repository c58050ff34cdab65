/**
 * The artifact tools as the model sees them: `read_artifact` pages through a
 * stored artifact (a tool output beyond the cap, a saved result) and
 * `save_result` keeps a workspace file as a result of the session. Offered
 * with `shell` (policies/evaluate.ts); the sandbox host's activities carry them
 * out (activities/artifact-tools.ts). Imported by workflow code: pure.
 */
import { READ_ARTIFACT, SAVE_RESULT } from '../policies/tool-names.js';

/** A page is at most this many bytes (and the default). */
export const MAX_ARTIFACT_PAGE_BYTES = 64 * 1024;
export const DEFAULT_ARTIFACT_PAGE_BYTES = 32 * 1024;

export type ReadArtifactArgs = { sha256: string; offset: number; length: number; encoding: 'utf8' | 'base64' };
export type SaveResultArgs = { path: string; media_type?: string };

export const ARTIFACT_TOOL_DEFINITIONS = {
  [READ_ARTIFACT]: {
    type: 'function',
    function: {
      name: READ_ARTIFACT,
      description:
        'Read part of an artifact of this session: the full output of a tool call that was cut (its result names the artifact sha256), ' +
        'or a saved result. Returns `length` bytes from `offset` and `next_offset` (null at the end). utf8 pages end on a character boundary.',
      parameters: {
        type: 'object',
        properties: {
          sha256: { type: 'string', description: 'The artifact id: 64 hex digits.' },
          offset: { type: 'integer', minimum: 0, description: 'Byte offset (default 0).' },
          length: { type: 'integer', minimum: 1, maximum: MAX_ARTIFACT_PAGE_BYTES, description: `Bytes to read (default ${DEFAULT_ARTIFACT_PAGE_BYTES}).` },
          encoding: { type: 'string', enum: ['utf8', 'base64'], description: 'utf8 (default) or base64 for binary content.' },
        },
        required: ['sha256'],
        additionalProperties: false,
      },
    },
  },
  [SAVE_RESULT]: {
    type: 'function',
    function: {
      name: SAVE_RESULT,
      description:
        'Keep a workspace file as a result of this session: it is stored outside the sandbox and can be downloaded after the session ends (GET /v1/sessions/:id/artifacts).',
      parameters: {
        type: 'object',
        properties: {
          path: { type: 'string', description: 'The file, relative to /workspace.' },
          media_type: { type: 'string', description: 'Its media type, e.g. text/csv (default application/octet-stream).' },
        },
        required: ['path'],
        additionalProperties: false,
      },
    },
  },
} as const;

/** A non-negative integer, also as the decimal string a templated model may send. */
function intField(args: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number | { error: string } {
  const raw = args[key] ?? fallback;
  const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) return { error: `argument "${key}" must be an integer from ${min} to ${max}` };
  return n;
}

export function parseReadArtifact(args: Record<string, unknown>): { args: ReadArtifactArgs } | { error: string } {
  const sha = args.sha256;
  if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) return { error: 'argument "sha256" must be 64 lowercase hex digits (the artifact id from a tool result)' };
  const offset = intField(args, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  if (typeof offset !== 'number') return offset;
  const length = intField(args, 'length', DEFAULT_ARTIFACT_PAGE_BYTES, 1, MAX_ARTIFACT_PAGE_BYTES);
  if (typeof length !== 'number') return length;
  const encoding = args.encoding ?? 'utf8';
  if (encoding !== 'utf8' && encoding !== 'base64') return { error: 'argument "encoding" must be utf8 or base64' };
  return { args: { sha256: sha, offset, length, encoding } };
}

export function parseSaveResult(args: Record<string, unknown>, path: string): { args: SaveResultArgs } | { error: string } {
  const media = args.media_type;
  if (media !== undefined && (typeof media !== 'string' || !/^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/i.test(media))) {
    return { error: 'argument "media_type" must be a media type such as text/csv' };
  }
  return { args: { path, ...(media !== undefined ? { media_type: media } : {}) } };
}

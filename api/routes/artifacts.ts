/**
 * A session's artifacts (storage/artifacts.ts): `GET /v1/sessions/:id/artifacts`
 * lists them; `GET /v1/sessions/:id/artifacts/:sha` streams one (a `Range:
 * bytes=a-b` gives 206), or with `?redirect=presigned` answers 302 to a
 * time-limited URL of the object store (S3 driver; the local driver has
 * none: 409). Tenant-scoped: another tenant's session, or a sha256 that is not
 * an artifact of this session, is a 404; one that was and expired under the
 * tenant's retention class (the maintenance schedule's retention pass) is a
 * 410 `artifact_expired`.
 */
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { z } from 'zod';
import { expiredSessionArtifact, listSessionArtifacts, sessionArtifactBySha, type ArtifactRow } from '../../db/artifacts.js';
import type { Db } from '../../db/client.js';
import { getSessionRow } from '../../db/sessions-query.js';
import type { Artifacts } from '../../storage/artifacts.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { parseParams, parseQuery } from '../validation.js';
import { sessionIdParams } from './sessions.js';

const shaParams = sessionIdParams.extend({ sha: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256: 64 lowercase hex digits') });
const downloadQuery = z.object({ redirect: z.enum(['presigned']).optional() }).strict();

export const artifactViewSchema = z.object({
  sha256: z.string(),
  kind: z.enum(['tool_output', 'result', 'workspace']),
  name: z.string(),
  sizeBytes: z.number().int(),
  mediaType: z.string(),
  step: z.number().int().nullable(),
  tier: z.enum(['hot', 'cold']),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  download: z.string(),
});

export interface ArtifactRoutesDeps {
  readonly db: Db;
  readonly artifacts?: Artifacts | undefined;
}

function present(row: ArtifactRow): z.infer<typeof artifactViewSchema> {
  return {
    sha256: row.sha256,
    kind: row.kind,
    name: row.name,
    sizeBytes: row.sizeBytes,
    mediaType: row.mediaType,
    step: row.step,
    tier: row.tier,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt ? row.expiresAt.toISOString() : null,
    download: `/v1/sessions/${row.sessionId ?? ''}/artifacts/${row.sha256}`,
  };
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` of a `size`-byte body; undefined for none, 'unsatisfiable' past the end. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // not one simple range: the whole body, as RFC 9110 allows
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export function artifactRoutes(deps: ArtifactRoutesDeps): Hono {
  const app = new Hono();

  async function owned(tenantId: string, id: string): Promise<void> {
    if (!(await getSessionRow(deps.db, tenantId, id))) throw new ApiError(404, 'session_not_found', `no session ${id}`);
  }

  app.get('/:id/artifacts', async (c) => {
    const { tenantId } = c.get('principal');
    const { id } = parseParams(c, sessionIdParams);
    await owned(tenantId, id);
    const rows = await listSessionArtifacts(deps.db, tenantId, id);
    return c.json({ data: rows.map(present) });
  });

  app.get('/:id/artifacts/:sha', async (c) => {
    const { tenantId } = c.get('principal');
    const { id, sha } = parseParams(c, shaParams);
    const q = parseQuery(c, downloadQuery);
    await owned(tenantId, id);
    const row = await sessionArtifactBySha(deps.db, tenantId, id, sha);
    if (!row) {
      const expired = await expiredSessionArtifact(deps.db, tenantId, id, sha);
      if (expired) throw new ApiError(410, 'artifact_expired', `artifact ${sha} of session ${id} (${expired.name}) expired under the tenant's retention class at ${expired.expiredAt.toISOString()}`);
      throw new ApiError(404, 'artifact_not_found', `session ${id} has no artifact ${sha}`);
    }
    const artifacts = deps.artifacts;
    if (!artifacts) throw new ApiError(503, 'object_store_unavailable', 'this API has no object store configured');
    if (q.redirect === 'presigned') {
      const url = await artifacts.presign(row);
      if (!url) throw new ApiError(409, 'presign_unsupported', `the ${artifacts.store.kind} object store has no presigned URLs: download without ?redirect`);
      return c.redirect(url, 302);
    }
    const headers: Record<string, string> = {
      'content-type': row.mediaType,
      'accept-ranges': 'bytes',
      etag: `"${row.sha256}"`,
      'x-content-sha256': row.sha256,
      'content-disposition': `attachment; filename="${row.name.split('/').pop()?.replace(/[^A-Za-z0-9._-]/g, '_') || row.sha256}"`,
    };
    const range = parseRange(c.req.header('range'), row.sizeBytes);
    if (range === 'unsatisfiable') {
      return c.body(null, 416, { 'content-range': `bytes */${row.sizeBytes}` });
    }
    if (range) {
      const body = await artifacts.open(row, range);
      return c.body(Readable.toWeb(body) as ReadableStream, 206, {
        ...headers,
        'content-range': `bytes ${range.start}-${range.end}/${row.sizeBytes}`,
        'content-length': String(range.end - range.start + 1),
      });
    }
    if (row.sizeBytes === 0) return c.body(new Uint8Array(0), 200, { ...headers, 'content-length': '0' });
    const body = await artifacts.open(row);
    return c.body(Readable.toWeb(body) as ReadableStream, 200, { ...headers, 'content-length': String(row.sizeBytes) });
  });

  return app;
}

export const artifactRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/v1/sessions/:id/artifacts',
    operationId: 'listArtifacts',
    summary: 'A session’s artifacts: tool output beyond the cap, saved results, its workspace tarball',
    tag: 'artifacts',
    params: sessionIdParams,
    responses: { 200: { description: 'oldest first', schema: z.object({ data: z.array(artifactViewSchema) }) }, 404: { description: 'session_not_found' } },
  },
  {
    method: 'get',
    path: '/v1/sessions/:id/artifacts/:sha',
    operationId: 'downloadArtifact',
    summary: 'An artifact’s bytes (Range supported), or a redirect to a presigned URL of the object store',
    tag: 'artifacts',
    params: shaParams,
    query: downloadQuery,
    responses: {
      200: { description: 'the bytes', contentType: 'application/octet-stream' },
      206: { description: 'the requested range', contentType: 'application/octet-stream' },
      302: { description: '?redirect=presigned: Location is a time-limited URL (S3 driver)' },
      404: { description: 'session_not_found | artifact_not_found' },
      410: { description: 'artifact_expired: deleted under the tenant’s retention class' },
      409: { description: 'presign_unsupported (local driver)' },
      416: { description: 'range past the end' },
    },
  },
];

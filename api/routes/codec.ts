/**
 * The codec endpoint (Temporal's codec server protocol) for the Web UI and
 * `temporal --codec-endpoint`: `POST /v1/codec/decode` and `/encode`, a body
 * `{"payloads": [{"metadata": {"<key>": "<base64>"}, "data": "<base64>"}]}`
 * (proto3 JSON: bytes are base64) answered in the same shape.
 *
 * Behind tenant authentication like every /v1 route: the caller's tenant
 * decides which keys decode. A payload encrypted for another tenant is refused
 * (403 wrong_tenant) rather than decoded; unencrypted payloads come back as sent.
 * CORS for the configured Web UI's origin is set in api/app.ts (before
 * authentication, so the browser's preflight gets its answer).
 */
import type { Payload } from '@temporalio/common';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Env } from '../../config/index.js';
import { decryptPayload, isEncrypted, PayloadCodecError, payloadKeyId, type TenantPayloadCodec } from '../../temporal/codec/payload-codec.js';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { parseBody } from '../validation.js';

/** Standard base64 (proto3 JSON writes bytes so; base64url is accepted too, as protobuf's JSON parsers do). */
const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'base64');

const payloadJson = z
  .object({
    metadata: z.record(z.string().min(1).max(256), base64).optional(),
    data: base64.optional(),
  })
  .strict();

export const codecBody = z.object({ payloads: z.array(payloadJson).max(10_000) }).strict();

const codecAnswer = z.object({ payloads: z.array(z.object({ metadata: z.record(z.string(), z.string()), data: z.string() })) });

function fromJson(p: z.infer<typeof payloadJson>): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): z.infer<typeof codecAnswer>['payloads'][number] {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

const STATUS: Record<PayloadCodecError['code'], 400 | 403 | 422> = {
  wrong_tenant: 403,
  unknown_key: 422,
  payload_tampered: 400,
  malformed_payload: 400,
  no_tenant: 422,
};

export interface CodecRoutesDeps {
  readonly config: Pick<Env, 'TEMPORAL_NAMESPACE'>;
  readonly codec: TenantPayloadCodec;
}

export function codecRoutes(deps: CodecRoutesDeps): Hono {
  const app = new Hono();

  // The Web UI names the namespace it shows: another namespace's payloads are none of this API's.
  function checkNamespace(header: string | undefined) {
    if (header !== undefined && header !== deps.config.TEMPORAL_NAMESPACE) {
      throw new ApiError(400, 'wrong_namespace', `this endpoint decodes namespace ${deps.config.TEMPORAL_NAMESPACE}, not ${header}`, [
        { path: 'header.x-namespace', message: `expected ${deps.config.TEMPORAL_NAMESPACE}` },
      ]);
    }
  }

  app.post('/decode', async (c) => {
    checkNamespace(c.req.header('x-namespace'));
    const { tenantId } = c.get('principal');
    const body = await parseBody(c, codecBody);
    const out = body.payloads.map((json, i) => {
      const payload = fromJson(json);
      if (!isEncrypted(payload)) return json;
      try {
        return toJson(decryptPayload(payload, deps.codec.keyring, tenantId));
      } catch (err) {
        if (!(err instanceof PayloadCodecError)) throw err;
        throw new ApiError(STATUS[err.code], err.code, err.message, [{ path: `body.payloads.${i}.metadata.encryption-key-id`, message: payloadKeyId(payload) ?? 'missing' }]);
      }
    });
    return c.json({ payloads: out });
  });

  app.post('/encode', async (c) => {
    checkNamespace(c.req.header('x-namespace'));
    const { tenantId } = c.get('principal');
    const body = await parseBody(c, codecBody);
    const payloads = body.payloads.map(fromJson);
    payloads.forEach((p, i) => {
      // Already encrypted: kept only when it is the caller's own.
      const owner = payloadKeyId(p)?.split('#')[0];
      if (isEncrypted(p) && owner !== tenantId) {
        throw new ApiError(403, 'wrong_tenant', 'a payload encrypted for another tenant', [{ path: `body.payloads.${i}.metadata.encryption-key-id`, message: 'another tenant' }]);
      }
    });
    try {
      return c.json({ payloads: deps.codec.encodeFor(tenantId, payloads).map(toJson) });
    } catch (err) {
      if (!(err instanceof PayloadCodecError)) throw err;
      throw new ApiError(STATUS[err.code], err.code, err.message);
    }
  });

  return app;
}

export const codecRouteDocs: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/codec/decode',
    operationId: 'codecDecode',
    summary: "Decode Temporal payloads encrypted with the caller's tenant key (codec server protocol, for the Web UI)",
    tag: 'codec',
    body: codecBody,
    responses: {
      200: { description: 'the payloads decoded (unencrypted ones as sent)', schema: codecAnswer },
      400: { description: 'validation_failed | payload_tampered | malformed_payload | wrong_namespace' },
      403: { description: "wrong_tenant: a payload of another tenant's key" },
      422: { description: 'unknown_key: the key version is not (or no longer) in the keyring' },
    },
  },
  {
    method: 'post',
    path: '/v1/codec/encode',
    operationId: 'codecEncode',
    summary: "Encrypt Temporal payloads with the caller's tenant's newest key (codec server protocol)",
    tag: 'codec',
    body: codecBody,
    responses: {
      200: { description: 'the payloads encrypted', schema: codecAnswer },
      400: { description: 'validation_failed | wrong_namespace' },
      403: { description: "wrong_tenant: a payload already encrypted with another tenant's key" },
    },
  },
];

/**
 * A workflow input kept outside Temporal until its start (db/session-starts.ts): the same JSON payload the
 * client would send, encrypted for the tenant by the payload codec, as bytes. What Postgres holds of a session
 * not yet started is therefore no more readable than what Temporal holds of one that is.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { TenantPayloadCodec } from './payload-codec.js';

const PayloadProto = proto.temporal.api.common.v1.Payload;

/** Without a codec (tests that build the API alone) the payload is stored as the client would send it then: plain. */
export type SealingCodec = Pick<TenantPayloadCodec, 'encodeFor' | 'decode'> | undefined;

export function sealInput(codec: SealingCodec, tenantId: string, input: unknown): Uint8Array {
  const payload = defaultPayloadConverter.toPayload(input);
  const [sealed] = codec ? codec.encodeFor(tenantId, [payload]) : [payload];
  return PayloadProto.encode(sealed ?? payload).finish();
}

/** Throws the codec's error for bytes it cannot open (tampered, a removed key): such a start never heals. */
export async function openInput<T>(codec: SealingCodec, bytes: Uint8Array): Promise<T> {
  const payload = PayloadProto.decode(bytes);
  const [opened] = codec ? await codec.decode([payload]) : [payload];
  return defaultPayloadConverter.fromPayload<T>(opened ?? payload);
}

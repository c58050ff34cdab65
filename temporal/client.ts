/** Connections to Temporal for the API (a Client) and for workers (a NativeConnection). */
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { NativeConnection } from '@temporalio/worker';
import type { Env } from '../config/index.js';
import type { Db } from '../db/client.js';
import { kortixDataConverter, payloadCodecFromConfig, type CodecConfig } from './codec/from-config.js';
import type { ExternalStorage } from '@temporalio/common';
import { objectStoreFromConfig, type ObjectStoreConfig } from '../storage/from-config.js';
import type { TenantPayloadCodec } from './codec/payload-codec.js';
import { payloadStorage } from './payload-storage.js';
import { UnsampledTraceClientInterceptor } from './unsampled-trace.js';

type TemporalConfig = Pick<Env, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_PAYLOAD_OFFLOAD_BYTES'> & CodecConfig & ObjectStoreConfig;

/**
 * What every client sends to workflows: the caller's trace (Temporal's OpenTelemetry interceptor), or, where the
 * process traces nothing, a trace that is not sampled, so that workflows record no spans (temporal/unsampled-trace.ts).
 */
export function clientInterceptors(): { workflow: WorkflowClientInterceptor[] } {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor(), new UnsampledTraceClientInterceptor()] };
}

/**
 * A client on a connection, with the production data converter (the tenant payload codec, large payloads by
 * reference in the object store) and trace propagation into workflows.
 */
export function temporalClient(connection: Connection, namespace: string, codec: TenantPayloadCodec, externalStorage?: ExternalStorage): Client {
  return new Client({
    connection,
    namespace,
    dataConverter: kortixDataConverter(codec, externalStorage),
    interceptors: clientInterceptors(),
  });
}

/**
 * Connects a client. The connection retries on its own when the server is away.
 * With `db`, the codec finds the tenant of a session it writes to (the API); without, it
 * refuses to write a tenant workflow's payloads rather than send them in clear.
 */
export async function createTemporalClient(config: TemporalConfig, options: { db?: Db; codec?: TenantPayloadCodec } = {}): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: '10s' });
  const codec = options.codec ?? payloadCodecFromConfig(config, options.db);
  return temporalClient(connection, config.TEMPORAL_NAMESPACE, codec, payloadStorage(config, objectStoreFromConfig(config)));
}

export async function createWorkerConnection(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
}

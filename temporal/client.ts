/** Connections to Temporal for the API (a Client) and for workers (a NativeConnection). */
import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { NativeConnection } from '@temporalio/worker';
import type { Env } from '../config/index.js';
import { dataConverter } from './worker-options.js';

type TemporalConfig = Pick<Env, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>;

/** A client on a connection, with the production data converter and trace propagation into workflows. */
export function temporalClient(connection: Connection, namespace: string): Client {
  return new Client({
    connection,
    namespace,
    dataConverter,
    interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
  });
}

/** Connects a client. The connection retries on its own when the server is away. */
export async function createTemporalClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: '10s' });
  return temporalClient(connection, config.TEMPORAL_NAMESPACE);
}

export async function createWorkerConnection(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
}

/** Connections to Temporal for the API (a Client) and for workers (a NativeConnection). */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Env } from '../config/index.js';
import { dataConverter } from './worker-options.js';

type TemporalConfig = Pick<Env, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>;

/** A client with the production data converter. The connection retries on its own when the server is away. */
export async function createTemporalClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: '10s' });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
}

export async function createWorkerConnection(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
}

/**
 * Where each piece of the cluster listens: every port is an offset from one
 * base (make cluster: 17200; a test picks a free range), so two clusters on a
 * machine never collide and the layout can be read off a table.
 */
export const TEMPORAL_SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

export interface TemporalServicePorts {
  readonly grpc: number;
  readonly membership: number;
  readonly metrics: number;
}

export interface ClusterLayout {
  readonly host: string;
  readonly temporal: Record<TemporalService, TemporalServicePorts>;
  readonly frontendHttp: number;
  readonly ui: number;
  readonly api: readonly number[];
  /** Health, readiness and /metrics of each Kortix worker host. */
  readonly workerHealth: readonly number[];
  readonly mockLlm: number;
}

export const WORKER_HOSTS = 2;
export const API_INSTANCES = 2;
/** How many ports a layout takes from its base. */
export const LAYOUT_SPAN = 80;
/** Temporal keeps membership ports in a Postgres smallint column (cluster_membership): a larger one stops the service. */
export const MAX_PORT_BASE = 32_767 - LAYOUT_SPAN;

export function clusterLayout(base: number, host = '127.0.0.1'): ClusterLayout {
  if (!Number.isInteger(base) || base < 1024 || base > MAX_PORT_BASE) {
    throw new RangeError(`port base ${base}: between 1024 and ${MAX_PORT_BASE} (Temporal stores membership ports as a smallint)`);
  }
  const service = (offset: number): TemporalServicePorts => ({ grpc: base + offset, membership: base + offset + 1, metrics: base + offset + 3 });
  return {
    host,
    temporal: { frontend: service(0), history: service(10), matching: service(20), worker: service(30) },
    frontendHttp: base + 2,
    ui: base + 40,
    api: Array.from({ length: API_INSTANCES }, (_, i) => base + 50 + i),
    workerHealth: Array.from({ length: WORKER_HOSTS }, (_, i) => base + 60 + i),
    mockLlm: base + 70,
  };
}

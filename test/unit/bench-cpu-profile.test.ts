import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { serverProfileSince, serverSnapshot } from '../../bench/cpu-profile.js';

/** A /metrics endpoint answering whatever `body` holds at the time of the request. */
async function metricsServer(body: { text: string }): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.end(body.text));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, server };
}

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

// Lines in the shape the Temporal server's Prometheus endpoint writes them (tally: no `_total`; OTel: `_total`).
const before = [
  'queue_actions{operation="TransferActiveQueueProcessor",queue_action="slice-predicate",service_name="history"} 4',
  'queue_actions{operation="TransferActiveQueueProcessor",queue_action="queue-pending-task",service_name="history"} 1',
  'pending_tasks_sum{operation="TransferActiveQueueProcessor",service_name="history"} 1000',
  'pending_tasks_count{operation="TransferActiveQueueProcessor",service_name="history"} 4',
  'persistence_latency_sum{operation="CreateWorkflowExecution",service_name="history"} 1.5',
  'persistence_latency_count{operation="CreateWorkflowExecution",service_name="history"} 10',
  'service_requests{operation="RecordActivityTaskHeartbeat",service_name="frontend"} 7',
  'persistence_requests{operation="UpdateWorkflowExecution",service_name="history"} 100',
].join('\n');
const after = [
  'queue_actions{operation="TransferActiveQueueProcessor",queue_action="slice-predicate",service_name="history"} 6',
  'queue_actions{operation="TransferActiveQueueProcessor",queue_action="queue-pending-task",service_name="history"} 4',
  'queue_actions_total{operation="TimerActiveQueueProcessor",queue_action="slice-count",service_name="history"} 2',
  'pending_tasks_sum{operation="TransferActiveQueueProcessor",service_name="history"} 31000',
  'pending_tasks_count{operation="TransferActiveQueueProcessor",service_name="history"} 6',
  'queue_slice_count_sum{operation="TimerActiveQueueProcessor",service_name="history"} 0',
  'queue_slice_count_count{operation="TimerActiveQueueProcessor",service_name="history"} 3',
  'persistence_latency_sum{operation="CreateWorkflowExecution",service_name="history"} 3.5',
  'persistence_latency_count{operation="CreateWorkflowExecution",service_name="history"} 20',
  'service_requests{operation="RecordActivityTaskHeartbeat",service_name="frontend"} 7',
  'service_requests{operation="RespondActivityTaskCompleted",service_name="frontend"} 5',
  'service_requests_total{operation="RespondActivityTaskCompleted",service_name="history"} 5',
  'persistence_requests{operation="UpdateWorkflowExecution",service_name="history"} 130',
  'persistence_requests_total{operation="GetWorkflowExecution",service_name="history"} 2',
].join('\n');

describe('the server profile over a load (bench/cpu-profile.ts)', () => {
  it('counts the history queues’ mitigator actions and their mean pending tasks between two scrapes', async () => {
    const body = { text: before };
    const { url, server } = await metricsServer(body);
    servers.push(server);
    const first = await serverSnapshot([url]);
    body.text = after;
    const profile = serverProfileSince(first, await serverSnapshot([url]));
    expect(profile.queueActions).toEqual({
      'slice-predicate{TransferActiveQueueProcessor}': 2,
      'queue-pending-task{TransferActiveQueueProcessor}': 3,
      'slice-count{TimerActiveQueueProcessor}': 2,
    });
    // (31000 - 1000) / (6 - 4) at the two checkpoints between; an empty queue's zero mean is left out.
    expect(profile.queueMeans).toEqual({ 'pending_tasks{TransferActiveQueueProcessor}': 15000 });
    expect(profile.serverHistograms).toEqual([{ key: 'persistence_latency{CreateWorkflowExecution}', count: 10, totalS: 2, meanMs: 200 }]);
    // Requests by operation as the frontend took them (the history service's own count of the same left out), and
    // what did not grow left out (no heartbeat between).
    expect(profile.serverRequests).toEqual({ RespondActivityTaskCompleted: 5 });
    expect(profile.persistenceRequests).toEqual({ UpdateWorkflowExecution: 30, GetWorkflowExecution: 2 });
  });

  it('sums a cluster’s services', async () => {
    const one = await metricsServer({ text: after });
    const two = await metricsServer({ text: after });
    servers.push(one.server, two.server);
    const empty = { histograms: new Map(), queueActions: new Map(), requests: new Map(), persistence: new Map() };
    const profile = serverProfileSince(empty, await serverSnapshot([one.url, two.url]));
    expect(profile.queueActions['queue-pending-task{TransferActiveQueueProcessor}']).toBe(8);
    expect(profile.persistenceRequests.UpdateWorkflowExecution).toBe(260);
  });
});

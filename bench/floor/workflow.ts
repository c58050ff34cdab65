/**
 * Temporal's floor for one agent step, on the same server and worker options
 * as the session worker (bench/throughput.ts): three no-op activities per step
 * in the session's layout — one on the workflow's own queue (the model call),
 * one on a second queue polled by another worker (the tool, on the sandbox
 * host's queue), one on the workflow's queue again (the event write).
 */
import { proxyActivities } from '@temporalio/workflow';

export interface FloorActivities {
  /** Records when step `step`'s activity `k` of workflow `id` ran; does nothing else. */
  noop(input: { id: string; step: number; k: number }): Promise<void>;
}

export async function floorWorkflow(input: { id: string; steps: number; hostQueue: string }): Promise<void> {
  const local = proxyActivities<FloorActivities>({ startToCloseTimeout: '30s' });
  const remote = proxyActivities<FloorActivities>({ startToCloseTimeout: '30s', taskQueue: input.hostQueue });
  for (let step = 0; step <= input.steps; step++) {
    await local.noop({ id: input.id, step, k: 0 });
    await remote.noop({ id: input.id, step, k: 1 });
    await local.noop({ id: input.id, step, k: 2 });
  }
}

/** The worker's tuning settings reach the SDK's worker options (temporal/worker.ts sharedWorkerOptions). */
import type { NativeConnection } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.js';
import type { Db } from '../../db/client.js';
import { LocalObjectStore } from '../../storage/local-store.js';
import { sharedWorkerOptions } from '../../temporal/worker.js';

const options = (env: Record<string, string>) =>
  // No connection, database or store is touched by building the options.
  sharedWorkerOptions({ config: loadConfig(env), connection: {} as NativeConnection, db: {} as Db, objectStore: new LocalObjectStore('/nonexistent-kortix-objects') });

describe('worker tuning settings', () => {
  it('leave the SDK defaults alone when unset', () => {
    const o = options({});
    expect(o).not.toHaveProperty('maxConcurrentWorkflowTaskExecutions');
    expect(o).not.toHaveProperty('maxConcurrentLocalActivityExecutions');
    expect(o).not.toHaveProperty('maxCachedWorkflows');
    expect(o.maxConcurrentActivityTaskExecutions).toBe(50);
  });

  it('pass the workflow-task, local-activity and cache bounds as set', () => {
    const o = options({ WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '200', WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: '150', WORKER_MAX_CACHED_WORKFLOWS: '300', WORKER_MAX_CONCURRENT_ACTIVITIES: '80' });
    expect(o).toMatchObject({ maxConcurrentWorkflowTaskExecutions: 200, maxConcurrentLocalActivityExecutions: 150, maxCachedWorkflows: 300, maxConcurrentActivityTaskExecutions: 80 });
  });

  it('refuse a bound that is not a whole number above the SDK minimum, naming the variable', () => {
    expect(() => loadConfig({ WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' })).toThrow(/WORKER_MAX_CONCURRENT_WORKFLOW_TASKS/);
    expect(() => loadConfig({ WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: 'many' })).toThrow(/WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES/);
  });
});

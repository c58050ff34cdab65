/**
 * The API's scrape-time gauges (api/collectors.ts) with fake
 * sources: values and zero-filled statuses, one read per interval however
 * often it is scraped, failures and timeouts that empty a gauge instead of
 * failing /metrics, and the DescribeTaskQueue request and answer.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  registerApiCollectors,
  reportedQueues,
  temporalQueueBacklog,
  type ApiCollectorSources,
  type QueueTaskType,
} from '../../api/collectors.js';

function setup(sources: Partial<ApiCollectorSources>, options: { maxAgeMs?: number; timeoutMs?: number } = {}) {
  const calls = { active: 0, backlog: 0 };
  const registry = new Registry();
  registerApiCollectors(registry, {
    sources: {
      activeSessions: async () => {
        calls.active++;
        return sources.activeSessions ? sources.activeSessions() : [];
      },
      queueBacklog: async (q, t) => {
        calls.backlog++;
        return sources.queueBacklog ? sources.queueBacklog(q, t) : 0;
      },
      ...(sources.pendingStarts ? { pendingStarts: sources.pendingStarts } : {}),
    },
    queues: reportedQueues('kx'),
    maxAgeMs: options.maxAgeMs ?? 0,
    timeoutMs: options.timeoutMs ?? 1_000,
  });
  /** The samples of the exposition text, as `name{labels} value` lines. */
  const scrape = async () => (await registry.metrics()).split('\n').filter((l) => l && !l.startsWith('#'));
  return { registry, calls, scrape };
}

describe('agent_active_count and queue_length', () => {
  it('report what the sources say, every non-ended status included', async () => {
    const backlog: Record<string, number> = { 'kx-sessions/workflow': 3, 'kx-sessions/activity': 7, 'kx-sandbox/activity': 1 };
    const { scrape } = setup({
      activeSessions: async () => [{ status: 'running', count: 4 }],
      queueBacklog: async (q: string, t: QueueTaskType) => backlog[`${q}/${t}`] ?? -1,
    });
    expect(await scrape()).toEqual([
      'metrics_collector_errors_total{collector="agent_active_count"} 0',
      'metrics_collector_errors_total{collector="queue_length"} 0',
      'agent_active_count{status="running"} 4',
      'agent_active_count{status="waiting_approval"} 0',
      'queue_length{task_queue="kx-sessions",type="workflow"} 3',
      'queue_length{task_queue="kx-sessions",type="activity"} 7',
      'queue_length{task_queue="kx-sandbox",type="activity"} 1',
    ]);
  });

  it('report the session starts Temporal has not taken, and count a failed read of them without losing the rest', async () => {
    const { scrape } = setup({ pendingStarts: async () => ({ count: 3, oldestSeconds: 42.5 }) });
    const lines = await scrape();
    expect(lines).toContain('session_starts_pending 3');
    expect(lines).toContain('session_start_oldest_pending_seconds 42.5');

    const broken = setup({
      pendingStarts: async () => {
        throw new Error('relation "session_starts" does not exist');
      },
    });
    const after = await broken.scrape();
    expect(after).toContain('metrics_collector_errors_total{collector="session_starts_pending"} 1');
    expect(after.filter((l) => l.startsWith('session_start'))).toEqual(['session_starts_pending Nan', 'session_start_oldest_pending_seconds Nan']);
    expect(after).toContain('agent_active_count{status="running"} 0');
  });

  it('read their sources once per interval however often they are scraped', async () => {
    const { calls, scrape } = setup({}, { maxAgeMs: 60_000 });
    await Promise.all([scrape(), scrape(), scrape()]);
    await scrape();
    expect(calls).toEqual({ active: 1, backlog: 3 });
  });

  it('leave a failing source out of the scrape, count it, and try again next time', async () => {
    let fail = true;
    const { calls, scrape } = setup(
      {
        activeSessions: async () => {
          if (fail) throw new Error('connection refused');
          return [{ status: 'waiting_approval', count: 2 }];
        },
        queueBacklog: async (q: string) => {
          if (q === 'kx-sandbox') throw new Error('unavailable');
          return 5;
        },
      },
      { maxAgeMs: 60_000 },
    );
    const first = await scrape();
    expect(first.filter((l) => l.startsWith('agent_active_count'))).toEqual([]);
    expect(first).toContain('metrics_collector_errors_total{collector="agent_active_count"} 1');
    expect(first).toContain('metrics_collector_errors_total{collector="queue_length"} 1');
    expect(first.filter((l) => l.startsWith('queue_length'))).toEqual([
      'queue_length{task_queue="kx-sessions",type="workflow"} 5',
      'queue_length{task_queue="kx-sessions",type="activity"} 5',
    ]);

    fail = false;
    const second = await scrape();
    // A failed read is not kept: the sessions source is asked again at once.
    expect(calls.active).toBe(2);
    expect(second).toContain('agent_active_count{status="waiting_approval"} 2');
    expect(second).toContain('agent_active_count{status="running"} 0');
  });

  it('do not let a source that hangs hold the scrape', async () => {
    const { scrape } = setup({ activeSessions: () => new Promise(() => {}) }, { timeoutMs: 100 });
    const started = performance.now();
    const lines = await scrape();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(lines).toContain('metrics_collector_errors_total{collector="agent_active_count"} 1');
    expect(lines.filter((l) => l.startsWith('queue_length'))).toHaveLength(3);
  });
});

describe('temporalQueueBacklog', () => {
  function fakeClient(answer: unknown) {
    const requests: Record<string, unknown>[] = [];
    const deadlines: number[] = [];
    const client = {
      connection: {
        withDeadline: <T>(deadline: number, fn: () => Promise<T>) => {
          deadlines.push(deadline);
          return fn();
        },
      },
      workflowService: {
        describeTaskQueue: async (req: Record<string, unknown>) => {
          requests.push(req);
          return answer;
        },
      },
    };
    return { client: client as unknown as Parameters<typeof temporalQueueBacklog>[0], requests, deadlines };
  }

  it('asks for the stats of one task type of a normal queue, with a deadline', async () => {
    const { client, requests, deadlines } = fakeClient({ stats: { approximateBacklogCount: { toString: () => '12' } } });
    const before = Date.now();
    expect(await temporalQueueBacklog(client, 'ns', 2_000)('kx-sessions', 'activity')).toBe(12);
    expect(requests).toEqual([{ namespace: 'ns', taskQueue: { name: 'kx-sessions', kind: 1 }, taskQueueType: 2, reportStats: true }]);
    expect(deadlines[0]).toBeGreaterThanOrEqual(before + 2_000);
    await temporalQueueBacklog(client, 'ns')('kx-sessions', 'workflow');
    expect(requests[1]?.taskQueueType).toBe(1);
  });

  it('reads a missing count as 0, but missing stats as an error', async () => {
    expect(await temporalQueueBacklog(fakeClient({ stats: {} }).client, 'ns')('q', 'workflow')).toBe(0);
    await expect(temporalQueueBacklog(fakeClient({}).client, 'ns')('q', 'workflow')).rejects.toThrow(/no stats/);
  });
});

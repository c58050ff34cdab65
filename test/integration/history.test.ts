/**
 * History stays linear: activities carry references, not the transcript, so
 * each step adds the same number of bytes to the history; a long session
 * continues-as-new and carries its state (sandbox included); cost limits stop
 * a session at the exact price of its calls.
 */
import { resolve } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { startStack, type Stack } from '../support/stack.js';
import { readAllEvents, startSession, waitForStatus } from '../support/sessions.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

let stack: Stack;
let cansStack: Stack;

beforeAll(async () => {
  stack = await startStack(inject('services'), { env: { MODEL_POLICY_FILE: resolve(REPO_ROOT, 'test/fixtures/model_policy.yaml') } });
  cansStack = await startStack(inject('services'), { tuning: { continueAsNewAfterEvents: 60 } });
});
afterAll(async () => {
  await stack?.close();
  await cansStack?.close();
});

/** Splits a history at each scheduled model call and measures each step's bytes. */
function bytesPerStep(events: HistoryEvent[]): number[] {
  const steps: HistoryEvent[][] = [[]];
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'llmStep') steps.push([]);
    steps.at(-1)?.push(event);
  }
  return steps.map((step) => Buffer.byteLength(JSON.stringify(step)));
}

describe('history size', () => {
  it('grows by the same number of bytes each step (the transcript is not in it)', async () => {
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step', repeat: '10' } });
    const done = await waitForStatus(stack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe('Finished after 10 turns: 10\n');

    const history = await stack.temporal.workflow.getHandle(session.id).fetchHistory();
    const steps = bytesPerStep(history.events ?? []);
    // [before the first call, 10 tool steps, the final answer]: compare the tool steps after the first.
    const middle = steps.slice(2, 11);
    expect(middle).toHaveLength(9);
    const min = Math.min(...middle);
    const max = Math.max(...middle);
    expect(max / min).toBeLessThan(1.15);
    // No upward trend: the ninth tool step is no bigger than the second, give or take a few bytes of ids.
    expect((middle.at(-1) as number) / (middle[0] as number)).toBeLessThan(1.05);

    // Meanwhile the transcript in Postgres did grow with every step.
    const rows = await stack.db.selectFrom('messages').select(['content']).where('session_id', '=', session.id).execute();
    expect(rows.length).toBe(2 + 2 * 10 + 1);
  });
});

describe('continue-as-new', () => {
  it('carries state, sandbox and event numbering into new runs', async () => {
    const session = await startSession(cansStack, { message: 'go', metadata: { scenario: 'multi-step', repeat: '8' } });
    const done = await waitForStatus(cansStack, session.id, undefined, 90_000);
    expect(done.status).toBe('completed');
    // wc -l of a file in the workspace: the same sandbox served every run.
    expect(done.finalAnswer).toBe('Finished after 8 turns: 8\n');
    expect(done.usage).toMatchObject({ llmCalls: 9, toolCalls: 8 });

    const runs = [];
    for await (const run of cansStack.temporal.workflow.list({ query: `WorkflowId = '${session.id}'` })) runs.push(run);
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.filter((r) => r.status.name === 'CONTINUED_AS_NEW').length).toBe(runs.length - 1);

    const events = await readAllEvents(cansStack, session.id);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.type === 'sandbox.claimed')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'session.started')).toHaveLength(1);
  });
});

describe('cost limit', () => {
  it('stops at max cost, with the cost computed from the price table', async () => {
    const session = await startSession(stack, {
      message: 'go',
      model: 'mock_priced',
      metadata: { scenario: 'multi-step' },
      limits: { maxCostUsd: 0.5 },
    });
    const done = await waitForStatus(stack, session.id);
    expect(done.status).toBe('max_cost');
    const { inputTokens, outputTokens, costUsd, llmCalls } = done.usage;
    expect(llmCalls).toBe(1);
    // $10,000 and $20,000 per million tokens: one call is already over $0.50.
    expect(costUsd).toBe(Math.round(inputTokens * 10_000 + outputTokens * 20_000) / 1e6);
    expect(done.error).toContain('limit $0.5');
  });
});

describe('GET /v1/sessions/:id/history, a page at a time', () => {
  it('pages through a history longer than one page, in order, each page at most `limit` events', async () => {
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step', repeat: '3' } });
    expect((await waitForStatus(stack, session.id, undefined, 90_000)).status).toBe('completed');
    // The row says completed a few events before the workflow closes: wait for the close.
    await stack.temporal.workflow.getHandle(session.id).result();
    const whole = (await stack.temporal.workflow.getHandle(session.id).fetchHistory()).events ?? [];
    expect(whole.length).toBeGreaterThan(30);

    const pages: { events: { eventId: string; eventType: string }[]; nextPageToken: string | null }[] = [];
    let token: string | null = null;
    do {
      const res = await stack.api('GET', `/v1/sessions/${session.id}/history?limit=10${token ? `&pageToken=${token}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as (typeof pages)[number];
      pages.push(page);
      token = page.nextPageToken;
    } while (token && pages.length < 100);

    expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(whole.length / 10));
    for (const page of pages) expect(page.events.length).toBeLessThanOrEqual(10);
    const events = pages.flatMap((p) => p.events);
    expect(events.map((e) => Number(e.eventId))).toEqual(whole.map((e) => Number(e.eventId)));
    expect(events[0]?.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    expect(events.at(-1)?.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
    expect(pages.at(-1)?.nextPageToken).toBeNull();
  });

  it("refuses a bad limit or token naming the field, and another tenant's session is a 404", async () => {
    const session = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step', repeat: '1' } });
    const tooMany = await stack.api('GET', `/v1/sessions/${session.id}/history?limit=1001`);
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: { fields: { path: string }[] } }).error.fields[0]?.path).toBe('query.limit');
    const badToken = await stack.api('GET', `/v1/sessions/${session.id}/history?pageToken=bm90LWEtdG9rZW4`);
    expect(badToken.status).toBe(400);
    expect(((await badToken.json()) as { error: { fields: { path: string }[] } }).error.fields[0]?.path).toBe('query.pageToken');
    expect((await stack.api('GET', `/v1/sessions/${session.id}/history`, 'mallory')).status).toBe(404);
    await waitForStatus(stack, session.id, undefined, 90_000);
  });
});

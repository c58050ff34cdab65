/**
 * WORKER_WORKFLOW_STACK_TRACES (temporal/workflow-stack-traces.ts; issue 16): sessions workers built with each mode,
 * as temporal/worker-main.ts builds one, run the same session. The `__stack_trace` query (the Temporal UI's "Stack
 * Trace" tab) shows where the session waits with the default (`lazy`: our hook, formatting when read), word for word
 * what the SDK's own hook (`eager`) shows, and so does the enhanced query; `off` answers "not enabled". All three
 * sessions end the same and replay.
 */
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import type { Worker as ThreadWorker, WorkerOptions as ThreadOptions } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { replayHistories } from '../../temporal/replay.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { LAZY_STACK_TRACES_PRELOAD, NO_STACK_TRACES_PRELOAD } from '../../temporal/workflow-stack-traces.js';
import { stateQuery } from '../../workflows/definitions.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';
import { startSession, waitForClosed, waitForEvent, waitForStatus } from '../support/sessions.js';

let traced: Stack;
let eager: Stack;
let untraced: Stack;
/** The preloads the SDK's workflow threads of each stack were started with (lazy and eager answer alike: this tells them apart). */
const preloads: Record<string, string[]> = {};

/** Starts a stack, recording the `--require`s of the SDK workflow threads its worker starts (node:worker_threads as the SDK reads it). */
async function startRecorded(name: string, env?: Record<string, string>): Promise<Stack> {
  const threads = createRequire(import.meta.url)('node:worker_threads') as { Worker: typeof ThreadWorker };
  const Original = threads.Worker;
  const seen: string[] = (preloads[name] = []);
  threads.Worker = class extends Original {
    constructor(filename: string | URL, options?: ThreadOptions) {
      if (String(filename).endsWith('workflow-worker-thread.js')) {
        const argv = options?.execArgv ?? [];
        seen.push(...argv.flatMap((a, i) => (argv[i - 1] === '--require' ? [basename(a)] : [])));
      }
      super(filename, options);
    }
  };
  try {
    return await startStack(inject('services'), env ? { env } : {});
  } finally {
    threads.Worker = Original;
  }
}

beforeAll(async () => {
  // One after the other: while a worker of a mode with a preload is created, every SDK workflow thread this process starts gets it.
  traced = await startRecorded('lazy');
  eager = await startRecorded('eager', { WORKER_WORKFLOW_STACK_TRACES: 'eager' });
  untraced = await startRecorded('off', { WORKER_WORKFLOW_STACK_TRACES: 'false' });
});
afterAll(async () => {
  await Promise.all([traced?.close(), eager?.close(), untraced?.close()]);
});

/** A session that answered and now waits for a follow-up message. */
async function waitingSession(stack: Stack): Promise<string> {
  const session = await startSession(stack, { message: 'hi', idleTimeoutSeconds: 600 });
  await waitForEvent(stack, session.id, 'llm.response');
  return session.id;
}

describe('workflow stack traces', () => {
  it('answer where a session waits, the same lazily as eagerly, "not enabled" when off, and all three sessions replay', async () => {
    // The default's workers run our hook, eager's the SDK's own, off's none.
    expect(preloads.lazy).toContain(basename(LAZY_STACK_TRACES_PRELOAD));
    expect(preloads.eager).toEqual([]);
    expect(preloads.off).toContain(basename(NO_STACK_TRACES_PRELOAD));
    expect(preloads.off).not.toContain(basename(LAZY_STACK_TRACES_PRELOAD));

    const a = await waitingSession(traced);
    const e = await waitingSession(eager);
    const b = await waitingSession(untraced);

    const query = (s: Stack, id: string, name: string) => waitFor(() => s.temporal.workflow.getHandle(id).query<unknown>(name), 30_000, name);
    const stack = await query(traced, a, '__stack_trace');
    // Source-mapped to the TypeScript of the wait for a follow-up message.
    expect(stack).toMatch(/workflows[\\/]session-loop\.ts/);
    expect(await query(eager, e, '__stack_trace')).toEqual(stack);
    const enhanced = await query(traced, a, '__enhanced_stack_trace');
    expect(JSON.stringify(enhanced)).toMatch(/session-loop\.ts/);
    expect(await query(eager, e, '__enhanced_stack_trace')).toEqual(enhanced);
    // Asked again (the lazy hook formatted these stacks at the first ask), the same answer.
    expect(await query(traced, a, '__stack_trace')).toEqual(stack);
    await expect(untraced.temporal.workflow.getHandle(b).query('__stack_trace')).rejects.toThrow(/stack traces are not enabled/);
    // Other queries and signals reach it as before.
    expect(await untraced.temporal.workflow.getHandle(b).query(stateQuery)).toMatchObject({ sessionId: b, step: 1 });

    const runs = [
      ['lazy', traced, a],
      ['eager', eager, e],
      ['off', untraced, b],
    ] as const;
    for (const [, s, id] of runs) {
      expect((await s.api('POST', `/v1/sessions/${id}/cancel`, 'alice', { reason: 'done' })).status).toBe(202);
      expect((await waitForStatus(s, id, ['cancelled'], 30_000)).status).toBe('cancelled');
      await waitForClosed(s, id);
    }
    const histories = await Promise.all(runs.map(([, s, id]) => s.temporal.workflow.getHandle(id).fetchHistory()));
    const types = (h: (typeof histories)[number]) => (h.events ?? []).map((ev) => ev.eventType);
    expect(types(histories[1]!)).toEqual(types(histories[0]!));
    expect(types(histories[2]!)).toEqual(types(histories[0]!));
    const outcomes = await replayHistories(
      runs.map(([name, , id], i) => ({ name, workflowId: id, history: histories[i]! })),
      await loadWorkflowBundle(),
    );
    expect(outcomes.map((o) => [o.name, o.ok, o.error])).toEqual([
      ['lazy', true, undefined],
      ['eager', true, undefined],
      ['off', true, undefined],
    ]);
  });
});

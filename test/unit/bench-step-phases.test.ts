/**
 * The throughput bench's step phases (bench/step-phases.ts) on a recorded
 * session history: each phase is the span between the events it names, and
 * together they are the step overhead as bench/session-latency.ts counts it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import proto from '@temporalio/proto';
import { activityRuns, historyBetween, sessionStepPhases, SESSION_PHASES } from '../../bench/step-phases.js';

// Two model steps with a shell call each (the first claims the sandbox), then max_steps.
const history = historyFromJSON(JSON.parse(readFileSync(resolve(REPO_ROOT, 'test/histories/current/max-steps.json'), 'utf8')));
const runs = activityRuns(history.events ?? []);
const byName = (name: string) => runs.filter((r) => r.name === name);
const { EventType, TimeoutType } = proto.temporal.api.enums.v1;

describe('activityRuns', () => {
  it('lists each activity with its times and the workflow task that followed it', () => {
    expect(runs.map((r) => r.name)).toEqual(['startSession', 'llmStep', 'claimSandbox', 'execTool', 'llmStep', 'execTool', 'releaseSandbox', 'recordEvents', 'finishSession']);
    const [model] = byName('llmStep');
    // Events 11-13 and the task 14-16 of the recorded history.
    expect(model?.started).toBeCloseTo(Date.parse('2026-12-02T14:24:03.269Z') + 0.318037, 3);
    expect(model?.completed).toBeCloseTo(Date.parse('2026-12-02T14:24:03.305Z') + 0.345954, 3);
    expect(model?.next?.scheduled).toBeCloseTo(Date.parse('2026-12-02T14:24:03.305Z') + 0.358773, 3);
    expect(model?.next?.completed).toBeCloseTo(Date.parse('2026-12-02T14:24:03.334Z') + 0.338847, 3);
  });
});

describe('sessionStepPhases', () => {
  const [m0, m1] = byName('llmStep');
  const [x0] = byName('execTool');
  const calls = [
    { arrived: (m0?.started ?? 0) + 10, answered: (m0?.completed ?? 0) - 5 },
    { arrived: (m1?.started ?? 0) + 8, answered: (m1?.completed ?? 0) - 4 },
  ];
  const tools = [{ started: (x0?.started ?? 0) + 6, result: (x0?.completed ?? 0) - 7 }];
  const [step, ...more] = sessionStepPhases(runs, calls, tools);

  it('splits the step between two model answers into its phases', () => {
    expect(more).toEqual([]);
    expect(step?.['model.afterAnswer']).toBeCloseTo(5, 6);
    expect(step?.['tool.beforeTool']).toBeCloseTo(6, 6);
    expect(step?.['tool.afterTool']).toBeCloseTo(7, 6);
    expect(step?.['model.beforeRequest']).toBeCloseTo(8, 6);
    // The first tool call claims the sandbox between the task after the model and execTool.
    expect(step?.claim).toBeCloseTo((x0?.scheduled ?? 0) - (m0?.next?.completed ?? 0), 6);
    expect(step?.claim).toBeGreaterThan(40);
    expect(step?.['wtAfterTool.startToClose']).toBeCloseTo((x0?.next?.completed ?? 0) - (x0?.next?.started ?? 0), 6);
  });

  it('adds up to the step overhead: answer to answer, less the tool and the model', () => {
    const [a, b] = calls as [{ arrived: number; answered: number }, { arrived: number; answered: number }];
    const tool = (tools[0]?.result ?? 0) - (tools[0]?.started ?? 0);
    const overhead = b.answered - a.answered - tool - (b.answered - b.arrived);
    expect(step?.overhead).toBeCloseTo(overhead, 6);
    const sum = SESSION_PHASES.reduce((a, k) => a + (step?.[k] ?? 0), 0);
    expect(sum).toBeCloseTo(step?.overhead ?? 0, 6);
    expect(step?.unaccounted).toBeCloseTo(0, 6);
  });
});

describe('historyBetween', () => {
  const events = history.events ?? [];
  const claim = runs.find((r) => r.name === 'claimSandbox');
  const range = (from: number, to: number) => historyBetween(events, from, to);

  it('names each activity event by its type and queue, and the attempt of its start', () => {
    if (!claim) throw new Error('the recorded history claims a sandbox');
    const lines = range(claim.scheduled, claim.completed);
    expect(lines.some((l) => /^\+\d+ ACTIVITY_TASK_SCHEDULED claimSandbox@\S+-sandbox$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\+\d+ ACTIVITY_TASK_STARTED claimSandbox@\S+-sandbox attempt 1$/.test(l))).toBe(true);
  });

  it("says how the attempt before a retried one ended: a timeout's kind, else the failure's message", () => {
    if (!claim) throw new Error('the recorded history claims a sandbox');
    const retried = (lastFailure: proto.temporal.api.failure.v1.IFailure) =>
      events.map((e) =>
        e.activityTaskStartedEventAttributes && e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
          ? { ...e, activityTaskStartedEventAttributes: { ...e.activityTaskStartedEventAttributes, attempt: 2, lastFailure } }
          : e,
      );
    const started = (evs: typeof events) => historyBetween(evs, claim.scheduled, claim.completed).find((l) => l.includes('ACTIVITY_TASK_STARTED claimSandbox'));
    expect(started(retried({ message: 'activity Heartbeat timeout', timeoutFailureInfo: { timeoutType: TimeoutType.TIMEOUT_TYPE_HEARTBEAT } }))).toMatch(
      / attempt 2 after heartbeat timeout$/,
    );
    expect(started(retried({ message: 'no sandbox free', applicationFailureInfo: { type: 'SandboxPoolExhausted' } }))).toMatch(/ attempt 2 after "no sandbox free"$/);
  });
});

/**
 * Where one agent step's orchestration overhead goes (issue 16), from each
 * workflow's history: per step (model answer k → model answer k+1) the
 * phases of its chain — the model activity's tail after the answer, the
 * workflow task after it, the tool activity's dispatch and its time around
 * the tool, the workflow task after that, the next model activity's dispatch
 * and its time before the request reaches the model. Their sum is the step
 * overhead of bench/session-latency.ts `stepTimings` (`unaccounted` is the
 * difference: clock skew, or an event this split does not know).
 * Clocks: history times are the Temporal server's, model times the bench's
 * (Date-based), tool times Postgres's `now()` (each write's transaction
 * start); all on this machine's one clock.
 * The floor workflow (bench/floor/workflow.ts) is split the same way, per
 * activity: what Temporal alone takes for each kind of phase.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Stack } from '../test/support/stack.js';
import { toolSpans, type ModelCall } from './session-latency.js';
import { percentiles, type Summary } from './stats.js';

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/** A workflow task's three times. */
interface TaskTimes {
  scheduled: number;
  started: number;
  completed: number;
}

/** One activity as the history has it (its last attempt), and the first workflow task that completed after it. */
export interface ActivityRun extends TaskTimes {
  name: string;
  taskQueue: string;
  next: TaskTimes | undefined;
}

/** An event's time in ms with its sub-ms part (seconds a Long from the server, a number from a JSON history). */
function ms(e: HistoryEvent | undefined): number {
  const t = e?.eventTime;
  if (!t) return Number.NaN;
  const seconds = typeof t.seconds === 'number' ? t.seconds : Number(t.seconds?.toString() ?? 0);
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}
const id = (e: HistoryEvent) => Number(e.eventId);

/** The activities of a history in the order they were scheduled. */
export function activityRuns(events: readonly HistoryEvent[]): ActivityRun[] {
  const started = new Map<number, HistoryEvent>();
  const completed = new Map<number, HistoryEvent>();
  const taskStarted = new Map<number, HistoryEvent>();
  const taskCompleted = new Map<number, HistoryEvent>();
  for (const e of events) {
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) started.set(Number(e.activityTaskStartedEventAttributes?.scheduledEventId), e);
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) completed.set(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId), e);
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) taskStarted.set(Number(e.workflowTaskStartedEventAttributes?.scheduledEventId), e);
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) taskCompleted.set(Number(e.workflowTaskCompletedEventAttributes?.scheduledEventId), e);
  }
  // Workflow tasks that completed (a timed-out or failed one is part of the wait before the next).
  const tasks = events
    .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED && taskCompleted.has(id(e)))
    .map((e) => ({ scheduledId: id(e), scheduled: ms(e), started: ms(taskStarted.get(id(e))), completed: ms(taskCompleted.get(id(e))) }));
  const runs: ActivityRun[] = [];
  for (const e of events) {
    if (e.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) continue;
    const done = completed.get(id(e));
    if (!done) continue;
    const attrs = e.activityTaskScheduledEventAttributes;
    const next = tasks.find((t) => t.scheduledId > id(done));
    runs.push({
      name: attrs?.activityType?.name ?? '',
      taskQueue: attrs?.taskQueue?.name ?? '',
      scheduled: ms(e),
      started: ms(started.get(id(e))),
      completed: ms(done),
      next: next && { scheduled: next.scheduled, started: next.started, completed: next.completed },
    });
  }
  return runs;
}

/** The phases of one session step, in the order they happen (ms). */
export const SESSION_PHASES = [
  /** llmStep after the model answered: ledger row, answer and event write, completion to the server. */
  'model.afterAnswer',
  /** llmStep completed → the workflow task after it scheduled (0 unless a task in between failed). */
  'wtAfterModel.wait',
  'wtAfterModel.scheduleToStart',
  'wtAfterModel.startToClose',
  /** That task's completion → execTool scheduled: 0 but on a step that claims the sandbox (claimSandbox and its task). */
  'claim',
  'tool.scheduleToStart',
  /** execTool start → its tool.started write (the transaction's start). */
  'tool.beforeTool',
  /** The tool.result write's transaction start → execTool completed. */
  'tool.afterTool',
  'wtAfterTool.wait',
  'wtAfterTool.scheduleToStart',
  'wtAfterTool.startToClose',
  /** That task's completion → the next llmStep scheduled. */
  'wtAfterTool.toModel',
  'model.scheduleToStart',
  /** llmStep start → its request at the model: idempotency read, transcript, routing, HTTP. */
  'model.beforeRequest',
] as const;
export type SessionPhase = (typeof SESSION_PHASES)[number];

/** The tool's own time of each step, in order: the tool.started and tool.result rows' times. */
export interface ToolSpan {
  started: number;
  result: number;
}

/** Per step, each phase; `overhead` is the step's as stepTimings counts it, `unaccounted` what the phases leave of it. */
export function sessionStepPhases(runs: readonly ActivityRun[], calls: readonly ModelCall[], tools: readonly ToolSpan[]) {
  const models = runs.filter((r) => r.name === 'llmStep');
  const steps: (Record<SessionPhase | 'overhead' | 'unaccounted', number> & { step: number })[] = [];
  for (let k = 0; k + 1 < models.length && k + 1 < calls.length; k++) {
    const m = models[k] as ActivityRun;
    const n = models[k + 1] as ActivityRun;
    const exec = runs.find((r) => r.name === 'execTool' && r.scheduled >= m.completed && r.scheduled <= n.scheduled);
    const tool = tools[k];
    const a = calls[k] as ModelCall;
    const b = calls[k + 1] as ModelCall;
    if (!exec || !tool || !m.next || !exec.next) continue;
    const phases: Record<SessionPhase, number> = {
      'model.afterAnswer': m.completed - a.answered,
      'wtAfterModel.wait': m.next.scheduled - m.completed,
      'wtAfterModel.scheduleToStart': m.next.started - m.next.scheduled,
      'wtAfterModel.startToClose': m.next.completed - m.next.started,
      claim: exec.scheduled - m.next.completed,
      'tool.scheduleToStart': exec.started - exec.scheduled,
      'tool.beforeTool': tool.started - exec.started,
      'tool.afterTool': exec.completed - tool.result,
      'wtAfterTool.wait': exec.next.scheduled - exec.completed,
      'wtAfterTool.scheduleToStart': exec.next.started - exec.next.scheduled,
      'wtAfterTool.startToClose': exec.next.completed - exec.next.started,
      'wtAfterTool.toModel': n.scheduled - exec.next.completed,
      'model.scheduleToStart': n.started - n.scheduled,
      'model.beforeRequest': b.arrived - n.started,
    };
    const overhead = b.answered - a.answered - (tool.result - tool.started) - (b.answered - b.arrived);
    const sum = Object.values(phases).reduce((x, y) => x + y, 0);
    steps.push({ step: k, ...phases, overhead, unaccounted: overhead - sum });
  }
  return steps;
}

/** The floor's phases per activity of a step: `local` on the workflow's queue (eager), `remote` on the second worker's. */
export function floorStepPhases(runs: readonly ActivityRun[], localQueue: string): Record<string, number>[] {
  return runs.flatMap((r) => {
    if (!r.next) return [];
    const side = r.taskQueue === localQueue ? 'local' : 'remote';
    return [
      {
        [`${side}.scheduleToStart`]: r.started - r.scheduled,
        [`${side}.startToClose`]: r.completed - r.started,
        [`${side}.wt.scheduleToStart`]: r.next.started - r.next.scheduled,
        [`${side}.wt.startToClose`]: r.next.completed - r.next.started,
      },
    ];
  });
}

/** p50/p95 of each key over the rows given. */
export function summarize(rows: readonly Record<string, number>[], skip: readonly string[] = ['step']): Record<string, Summary> {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => !skip.includes(k));
  return Object.fromEntries(keys.map((k) => [k, percentiles(rows.map((r) => r[k]).filter((v): v is number => v !== undefined && !Number.isNaN(v)))]));
}

async function historyEvents(client: Client, workflowId: string): Promise<HistoryEvent[]> {
  return (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}

/** The phases of every step of these sessions (workflow id = session id), p50/p95 each. */
export async function sessionPhases(stack: Pick<Stack, 'db' | 'temporal'>, calls: ReadonlyMap<string, readonly ModelCall[]>, ids: readonly { id: string; bench: string }[]) {
  const rows: Record<string, number>[] = [];
  for (const { id: sessionId, bench } of ids) {
    const tools = await toolSpans(stack, sessionId);
    rows.push(...sessionStepPhases(activityRuns(await historyEvents(stack.temporal, sessionId)), calls.get(bench) ?? [], tools));
  }
  return summarize(rows);
}

/** The floor's phases over these floor workflows. */
export async function floorPhases(client: Client, workflowIds: readonly string[], localQueue: string) {
  const rows: Record<string, number>[] = [];
  for (const id of workflowIds) rows.push(...floorStepPhases(activityRuns(await historyEvents(client, id)), localQueue));
  return summarize(rows);
}

export type PhaseSummaries = Record<string, Summary>;

/** Table rows: one per phase, `p50 / p95` at 1 session | at 20, one column per variant. */
export function printPhases(
  results: readonly { label: string; stepPhasesMs: { concurrency1: PhaseSummaries; concurrency20: PhaseSummaries; floor1: PhaseSummaries; floor20: PhaseSummaries } | null }[],
): void {
  const col = (s: string) => s.padEnd(26);
  const cell = (a: Summary | undefined, b: Summary | undefined) => `${a ? `${a.p50}/${a.p95}` : '-'} | ${b ? `${b.p50}/${b.p95}` : '-'}`;
  console.log(`\nstep phases (ms p50/p95, 1 | 20 sessions)  ${results.map((r) => col(r.label)).join('')}`);
  const keys = [...SESSION_PHASES, 'unaccounted', 'overhead'];
  for (const k of keys) console.log(`  ${k.padEnd(40)}${results.map((r) => col(cell(r.stepPhasesMs?.concurrency1[k], r.stepPhasesMs?.concurrency20[k]))).join('')}`);
  const floorKeys = [...new Set(results.flatMap((r) => Object.keys(r.stepPhasesMs?.floor1 ?? {})))].sort();
  for (const k of floorKeys) console.log(`  ${`floor ${k}`.padEnd(40)}${results.map((r) => col(cell(r.stepPhasesMs?.floor1[k], r.stepPhasesMs?.floor20[k]))).join('')}`);
}

/** How the attempt before this one ended (a timeout's kind, or the failure's message), where there was one. */
function lastFailure(started: NonNullable<HistoryEvent['activityTaskStartedEventAttributes']>): string {
  const failure = started.lastFailure;
  if (!failure) return '';
  const timeout = failure.timeoutFailureInfo?.timeoutType;
  return ` after ${timeout ? (TimeoutType[timeout] ?? String(timeout)).replace('TIMEOUT_TYPE_', '').toLowerCase() + ' timeout' : `"${failure.message ?? ''}"`}`;
}

/**
 * What a history says happened between two times (epoch ms): each event as `+ms EVENT_TYPE detail` (the activity's
 * type, a timeout's kind, a failure's message), for the longest wait of a load (bench/throughput.ts).
 */
export function historyBetween(events: readonly HistoryEvent[], from: number, to: number): string[] {
  const scheduled = new Map<number, string>();
  const lines: string[] = [];
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) scheduled.set(id(e), `${a.activityType?.name ?? '?'}@${a.taskQueue?.name ?? '?'}`);
    const t = ms(e);
    if (t < from - 100 || t > to + 100) continue;
    const ofActivity = (scheduledEventId: unknown) => scheduled.get(Number(scheduledEventId)) ?? '';
    const detail =
      a ? scheduled.get(id(e)) :
      e.activityTaskStartedEventAttributes ? `${ofActivity(e.activityTaskStartedEventAttributes.scheduledEventId)} attempt ${e.activityTaskStartedEventAttributes.attempt ?? 1}${lastFailure(e.activityTaskStartedEventAttributes)}` :
      e.activityTaskCompletedEventAttributes ? ofActivity(e.activityTaskCompletedEventAttributes.scheduledEventId) :
      e.activityTaskFailedEventAttributes ? `${ofActivity(e.activityTaskFailedEventAttributes.scheduledEventId)}: ${e.activityTaskFailedEventAttributes.failure?.message ?? ''}` :
      e.activityTaskTimedOutEventAttributes ? `${ofActivity(e.activityTaskTimedOutEventAttributes.scheduledEventId)}: ${e.activityTaskTimedOutEventAttributes.failure?.message ?? ''}` :
      e.workflowTaskFailedEventAttributes ? String(e.workflowTaskFailedEventAttributes.failure?.message ?? '') :
      e.workflowTaskTimedOutEventAttributes ? `timeout type ${e.workflowTaskTimedOutEventAttributes.timeoutType ?? ''}` :
      e.markerRecordedEventAttributes ? String(e.markerRecordedEventAttributes.markerName ?? '') :
      '';
    lines.push(`+${Math.round(t - from)} ${EventType[e.eventType ?? 0]?.replace('EVENT_TYPE_', '') ?? e.eventType}${detail ? ` ${detail}` : ''}`);
  }
  return lines;
}

/**
 * The load's longest wait of one session between two model answers, and what its history and its events say
 * happened meanwhile: a step stuck for a timeout shows which activity and which timeout.
 */
export async function longestGap(stack: Stack, calls: ReadonlyMap<string, readonly ModelCall[]>, load: readonly { id: string; bench: string }[]) {
  let worst: { id: string; from: number; to: number } | undefined;
  for (const { id, bench } of load) {
    const mine = calls.get(bench) ?? [];
    for (let k = 1; k < mine.length; k++) {
      const from = mine[k - 1]?.answered ?? 0;
      const to = mine[k]?.arrived ?? 0;
      if (!worst || to - from > worst.to - worst.from) worst = { id, from, to };
    }
  }
  if (!worst) return null;
  const { id, from, to } = worst;
  const history = await stack.temporal.workflow.getHandle(id).fetchHistory();
  const events = await stack.db
    .selectFrom('session_events')
    .select(['type', 'created_at'])
    .where('session_id', '=', id)
    .where('created_at', '>=', new Date(from - 100))
    .where('created_at', '<=', new Date(to + 100))
    .orderBy('seq')
    .execute();
  return {
    sessionId: id,
    gapMs: Math.round(to - from),
    history: historyBetween(history.events ?? [], from, to),
    events: events.map((e) => `+${e.created_at.getTime() - Math.round(from)} ${e.type}`),
  };
}

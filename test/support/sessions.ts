/** Helpers that drive sessions through the API, as a client would (free of vitest: scripts use them too). */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { GateView } from '../../workflows/definitions.js';
import { TERMINAL_STATUSES } from '../../domain/session.js';
import { LABELS } from '../../sandbox/container-spec.js';
import { docker, waitFor, type Stack, type Who } from './stack.js';

/** What the helpers need of a stack: its API (in-process, or a real instance over HTTP in test/cluster). */
type ApiOf = Pick<Stack, 'api'>;

export interface SessionJson {
  id: string;
  status: string;
  step: number;
  finalAnswer: string | null;
  error: string | null;
  pendingApprovals: GateView[];
  usage: { inputTokens: number; outputTokens: number; costUsd: number; llmCalls: number; toolCalls: number };
  requester: string;
  policy: { name: string; hash: string };
  links: Record<string, string>;
}

export interface SseEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

export async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/**
 * POST /v1/sessions. It answers before Temporal has the workflow (api/session-starter.ts starts it after); with
 * the stack's Temporal client at hand this also waits for the start, since tests reach the workflow directly.
 */
export async function startSession(stack: ApiOf & Partial<Pick<Stack, 'temporal'>>, body: Record<string, unknown>, who: Who = 'alice'): Promise<SessionJson> {
  const session = await postSession(stack, body, who);
  if (stack.temporal) await waitForWorkflow(stack.temporal, session.id);
  return session;
}

/** POST /v1/sessions as a client makes it: the answer, whether or not Temporal has the workflow yet (benches). */
export async function postSession(stack: ApiOf, body: Record<string, unknown>, who: Who = 'alice'): Promise<SessionJson> {
  const res = await stack.api('POST', '/v1/sessions', who, body);
  if (res.status !== 201) throw new Error(`POST /v1/sessions answered ${res.status}: ${await res.text()}`);
  return json<SessionJson>(res);
}

/** Until Temporal knows the workflow (polled every 20 ms: a start normally lands within a few). */
export async function waitForWorkflow(temporal: Stack['temporal'], id: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await temporal.workflow.getHandle(id).describe();
      return;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      if (Date.now() > deadline) throw new Error(`the workflow of ${id} was not started within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function getSession(stack: ApiOf, id: string, who: Who = 'alice'): Promise<SessionJson> {
  const res = await stack.api('GET', `/v1/sessions/${id}`, who);
  if (res.status !== 200) throw new Error(`GET /v1/sessions/${id} answered ${res.status}: ${await res.text()}`);
  return json<SessionJson>(res);
}

const TERMINAL: readonly string[] = TERMINAL_STATUSES;

/**
 * Waits until the session reaches one of `statuses` (default: any terminal one). On a timeout the error
 * says where the session stood (status, step, tool and model calls, error), so a slow run names its cause.
 */
export async function waitForStatus(
  stack: ApiOf & Partial<Pick<Stack, 'temporal'>>,
  id: string,
  statuses: readonly string[] = TERMINAL,
  timeoutMs = 60_000,
): Promise<SessionJson> {
  let last: SessionJson | undefined;
  try {
    return await waitFor(
      async () => {
        last = await getSession(stack, id);
        return statuses.includes(last.status) ? last : undefined;
      },
      timeoutMs,
      `session ${id} to be ${statuses.join('|')}`,
    );
  } catch (err) {
    if (!last) throw err;
    const { status, step, usage, error, pendingApprovals } = last;
    const where = { status, step, llmCalls: usage.llmCalls, toolCalls: usage.toolCalls, gates: pendingApprovals.length, error, activities: await pendingActivities(stack, id) };
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(where)}`, { cause: err });
  }
}

/** The workflow's pending activities (type, attempt, last failure), where the stack has a Temporal client: what a stuck session waits on. */
async function pendingActivities(stack: Partial<Pick<Stack, 'temporal'>>, id: string): Promise<unknown> {
  if (!stack.temporal) return undefined;
  try {
    const { raw } = await stack.temporal.workflow.getHandle(id).describe();
    return (raw.pendingActivities ?? []).map((a) => ({ type: a.activityType?.name, attempt: a.attempt, state: a.state, failure: a.lastFailure?.message }));
  } catch (err) {
    return `describe failed: ${(err as Error).message}`;
  }
}

/**
 * Waits until the session's workflow has closed. The session row says `completed` (or another end) from the
 * workflow's last event write, a moment before the workflow's own last task completes: a check of the
 * Temporal history, or of the task queue, waits for this too.
 */
export async function waitForClosed(stack: Pick<Stack, 'temporal'>, id: string, timeoutMs = 60_000): Promise<string> {
  return waitFor(
    async () => {
      const { status } = await stack.temporal.workflow.getHandle(id).describe();
      return status.name === 'RUNNING' ? undefined : status.name;
    },
    timeoutMs,
    `the workflow of ${id} to close`,
  );
}

/** Waits for an open approval gate and returns it. */
export async function waitForGate(stack: ApiOf, id: string, timeoutMs = 30_000): Promise<GateView> {
  return waitFor(async () => (await getSession(stack, id)).pendingApprovals[0], timeoutMs, `a gate in ${id}`);
}

export async function vote(stack: ApiOf, id: string, gateId: string, who: Who, decision: 'approve' | 'reject' = 'approve') {
  return stack.api('POST', `/v1/sessions/${id}/approvals`, who, { gateId, decision });
}

/** Parses a whole SSE body into events. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const m = /^(\w+): ?(.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) fields[m[1]] = m[2];
    }
    if (fields.event && fields.data) {
      const payload = JSON.parse(fields.data) as { data: Record<string, unknown> };
      events.push({ id: Number(fields.id), type: fields.event, data: payload.data });
    }
  }
  return events;
}

/** Reads the session's SSE stream to its end (the stream closes after `session.ended`). */
export async function readAllEvents(stack: ApiOf, id: string, lastEventId?: number): Promise<SseEvent[]> {
  const res = await stack.api('GET', `/v1/sessions/${id}/events`, 'alice', undefined, lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) });
  if (res.status !== 200 || !res.headers.get('content-type')?.includes('text/event-stream')) {
    throw new Error(`GET /v1/sessions/${id}/events answered ${res.status} ${res.headers.get('content-type')}`);
  }
  return parseSse(await res.text());
}

/** The tool results the model saw, in order (from the transcript). */
export async function toolResults(stack: Pick<Stack, 'db'>, id: string): Promise<Record<string, unknown>[]> {
  const rows = await stack.db
    .selectFrom('messages')
    .select(['content'])
    .where('session_id', '=', id)
    .where('role', '=', 'tool')
    .orderBy('seq')
    .execute();
  return rows.map((r) => JSON.parse(r.content ?? '{}') as Record<string, unknown>);
}

/** The session's containers on the stack's host: claimed warm ones are known by name, cold ones by label too (each once). */
export async function containersOf(stack: Pick<Stack, 'host'>, sessionId: string) {
  const byName = await docker.listContainers({ all: true, filters: { name: [stack.host.names.session(sessionId)] } });
  const byLabel = await docker.listContainers({ all: true, filters: { label: [`${LABELS.session}=${sessionId}`] } });
  return [...new Map([...byName, ...byLabel].map((c) => [c.Id, c])).values()];
}

/** The data of the session's stored events of one type, in order. */
export async function eventsOfType(stack: Pick<Stack, 'db'>, sessionId: string, type: string): Promise<Record<string, unknown>[]> {
  const rows = await stack.db.selectFrom('session_events').select('data').where('session_id', '=', sessionId).where('type', '=', type).orderBy('seq').execute();
  return rows.map((r) => r.data);
}

/** Waits for the session's first event of `type` (the outbox writes a moment after the workflow decided); its data. */
export async function waitForEvent(stack: Pick<Stack, 'db'>, sessionId: string, type: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return waitFor(async () => (await eventsOfType(stack, sessionId, type))[0], timeoutMs, `${type} in ${sessionId}`);
}

/**
 * Activities on the sessions queue: the model step and every write of the
 * session's records. All are idempotent: a retry after a crash returns what
 * the first attempt stored instead of doing the work again.
 */
import { trace } from '@opentelemetry/api';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db/client.js';
import {
  endRecords,
  getEventByKey,
  getMessage,
  loadTranscript,
  writeSessionRecords,
  type SessionPatch,
} from '../db/session-records.js';
import type { SessionRef } from '../domain/session.js';
import type { StoredToolCall } from '../db/schema.js';
import { LlmError } from '../router/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tier } from '../router/model-policy.js';
import type { ModelRouter } from '../router/router.js';
import type { ChatMessage } from '../router/types.js';
import { toolDefinitions } from '../sandbox/tools.js';
import { EVENT_KEY_SOURCES, EVENT_TYPES, ONCE_EVENT_KEYS, eventKey, type EventKey } from '../domain/events.js';
import { withHeartbeat } from './heartbeat.js';
import { withFailFast } from './permanent-errors.js';
import { workflowEvents, workflowKey } from './workflow-events.js';
import type {
  FinishSessionInput,
  NewEvent,
  LlmStepInput,
  LlmStepResult,
  RecordToolResultInput,
  StartSessionInput,
  UserMessageInput,
} from './types.js';

export interface SessionActivityDeps {
  readonly db: Db;
  readonly router: ModelRouter;
  readonly metrics?: Pick<Metrics, 'llmLatency' | 'failedTasks' | 'tasks'> | undefined;
}

type StoredMessage = Awaited<ReturnType<typeof loadTranscript>>[number];

/** How the stored transcript is sent to a model. */
function toChatMessages(rows: readonly StoredMessage[]): ChatMessage[] {
  return rows.map((row): ChatMessage => {
    switch (row.role) {
      case 'assistant': {
        const calls = (row.tool_calls ?? []) as StoredToolCall[];
        return calls.length > 0
          ? {
              role: 'assistant',
              content: row.content,
              tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
            }
          : { role: 'assistant', content: row.content ?? '' };
      }
      case 'tool':
        return { role: 'tool', content: row.content ?? '', tool_call_id: row.tool_call_id ?? '' };
      default:
        return { role: row.role, content: row.content ?? '' };
    }
  });
}

/** Router errors become Temporal failures that say whether a retry can help. */
function toFailure(err: unknown): unknown {
  if (!(err instanceof LlmError)) return err;
  return ApplicationFailure.create({
    type: `LlmError.${err.errorClass}`,
    message: err.message,
    nonRetryable: !err.retryable,
    details: [{ errorClass: err.errorClass, provider: err.details.provider ?? null, status: err.details.status ?? null }],
    ...(err.details.retryAfterMs !== undefined ? { nextRetryDelay: err.details.retryAfterMs } : {}),
  });
}

/** The session row's last state. */
export function createSessionActivities({ db, router, metrics }: SessionActivityDeps) {
  /**
   * The system and first user messages, and `session.started`, in the row the API wrote (POST /v1/sessions
   * inserts it in the transaction that admits the session, before the workflow starts: db/session-records.ts
   * createSessionRow has no other caller). No row is a non-retryable SessionNotFoundError, not a second
   * insert. The input keeps the row's fields: recorded histories send them.
   */
  async function startSession(input: StartSessionInput): Promise<{ nextMessageSeq: number }> {
    await writeSessionRecords(db, input.session, {
      messages: [
        { seq: 0, role: 'system', content: input.systemPrompt },
        { seq: 1, role: 'user', content: input.userMessage },
      ],
      events: [
        {
          key: ONCE_EVENT_KEYS.started,
          type: EVENT_TYPES.sessionStarted,
          data: {
            agent: input.agent,
            requester: input.requester,
            policy: input.policyName,
            policyHash: input.policyHash,
            model: input.model,
          },
        },
        {
          key: eventKey(EVENT_KEY_SOURCES.message, 1),
          type: EVENT_TYPES.userMessage,
          data: { seq: 1, content: input.userMessage, from: input.requester },
        },
      ],
      // No status patch: the API inserted the row `running` (createSessionRow; sessions have no earlier
      // status), so writing it again here was a second writer of the same fact, and an attempt that
      // commits late (after a cancel ended the session) would have put an ended row back to `running`.
      // Later changes of status are the workflow's (SessionState.setStatus, finishSession).
    });
    return { nextMessageSeq: 2 };
  }

  /** Asks the model for the next step, from the transcript in Postgres; stores the answer at `messageSeq`. */
  async function llmStep(input: LlmStepInput): Promise<LlmStepResult> {
    const { session, messageSeq } = input;
    const llmKey = eventKey(EVENT_KEY_SOURCES.llm, messageSeq);
    // The transcript and, in the same read, the answer's own slot: a previous attempt got the answer and
    // stored it before the worker died (then the transcript read is spent, a rare case, for one round trip less in all others).
    const transcript = await loadTranscript(db, session, messageSeq + 1);
    const own = transcript.at(-1);
    if (own?.seq === messageSeq) return storedAnswer(session, own, llmKey);
    const ctx = Context.current();
    let answer;
    metrics?.tasks.inc({ kind: 'llm' });
    try {
      const call = () =>
        router.complete({
          tenantId: session.tenantId,
          sessionId: session.sessionId,
          model: input.model,
          requestType: input.requestType,
          // The session's metadata may name a complexity tier (small|medium|large); the router checks it.
          tier: input.metadata.tier as Tier | undefined,
          messages: toChatMessages(transcript),
          tools: toolDefinitions(input.tools),
          metadata: input.metadata,
          signal: ctx.cancellationSignal,
        });
      // A local activity (tuning.localModelCalls) has no heartbeat: it runs in the worker holding the workflow
      // task, which the worker keeps alive itself, and a cancel reaches it through the same signal.
      answer = await (ctx.info.isLocal ? call() : withHeartbeat(call));
    } catch (err) {
      metrics?.failedTasks.inc({ kind: 'llm' });
      throw toFailure(err);
    }
    // The activity's span (from the Temporal OpenTelemetry interceptor) says what the call was.
    trace.getActiveSpan()?.setAttributes({
      'kortix.session': session.sessionId,
      'kortix.tenant': session.tenantId,
      'llm.provider': answer.provider,
      'llm.model': answer.model,
      'llm.tokens.input': answer.usage.inputTokens,
      'llm.tokens.output': answer.usage.outputTokens,
      'llm.cost_usd': answer.costUsd,
    });
    const toolCalls = answer.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments }));
    const result: LlmStepResult = {
      content: answer.content,
      toolCalls,
      model: answer.model,
      provider: answer.provider,
      inputTokens: answer.usage.inputTokens,
      outputTokens: answer.usage.outputTokens,
      costUsd: answer.costUsd,
      route: answer.route,
      cacheHit: answer.cacheHit,
      fallbackUsed: answer.fallbackUsed,
      downgradedFrom: answer.downgradedFrom,
    };
    const written = await writeSessionRecords(db, session, {
      messages: [{ seq: messageSeq, role: 'assistant', content: answer.content, toolCalls }],
      events: [
        {
          key: llmKey,
          type: EVENT_TYPES.llmResponse,
          data: { ...result, seq: messageSeq, step: input.step, latencyMs: Math.round(answer.latencyMs) },
        },
      ],
      patch: { step: input.step },
    });
    if (written.messagesInserted === 0) {
      // Another run of this call stored its answer first (a worker slow, not dead, while the call ran again
      // elsewhere): the transcript holds that one, so the workflow acts on it, not on this run's.
      const first = await getMessage(db, session, messageSeq);
      if (first) return storedAnswer(session, first, llmKey);
    }
    return result;
  }

  /** The answer `stored` (a message row), with its usage from its llm.response event. */
  async function storedAnswer(session: SessionRef, stored: StoredMessage, llmKey: EventKey): Promise<LlmStepResult> {
    const event = await getEventByKey(db, session, llmKey);
    const data = (event?.data ?? {}) as Partial<LlmStepResult>;
    return {
      content: stored.content,
      toolCalls: ((stored.tool_calls ?? []) as StoredToolCall[]).map((c) => ({ ...c })),
      model: data.model ?? 'unknown',
      provider: data.provider ?? 'unknown',
      inputTokens: data.inputTokens ?? 0,
      outputTokens: data.outputTokens ?? 0,
      costUsd: data.costUsd ?? 0,
    };
  }

  /** Appends user messages that arrived by signal. */
  async function appendUserMessages(input: { session: SessionRef; messages: readonly UserMessageInput[] }): Promise<void> {
    await writeSessionRecords(db, input.session, {
      messages: input.messages.map((m) => ({ seq: m.seq, role: 'user' as const, content: m.content })),
      events: input.messages.map((m) => ({
        key: workflowKey(m.eventKey),
        type: EVENT_TYPES.userMessage,
        data: { seq: m.seq, content: m.content, from: m.from },
      })),
    });
  }

  /**
   * Writes events the workflow decided (policy decisions, gates, votes) and an optional patch of the session row.
   * A gate is checked and taken in its one shape, also as older workflows sent it (`gateId` for `id`).
   */
  async function recordEvents(input: { session: SessionRef; events: readonly NewEvent[]; patch?: SessionPatch }): Promise<void> {
    await writeSessionRecords(db, input.session, { events: workflowEvents(input.events), ...(input.patch ? { patch: input.patch } : {}) });
  }

  /** Stores the result of a tool call that did not run (denied, invalid, rejected) as the model will see it. */
  async function recordToolResult(input: RecordToolResultInput): Promise<void> {
    await writeSessionRecords(db, input.session, {
      messages: [
        { seq: input.messageSeq, role: 'tool', content: JSON.stringify(input.result), toolCallId: input.toolCallId },
      ],
      events: [
        ...workflowEvents(input.decisions),
        {
          key: eventKey(EVENT_KEY_SOURCES.toolResult, input.messageSeq),
          type: EVENT_TYPES.toolResult,
          data: { seq: input.messageSeq, toolCallId: input.toolCallId, name: input.name, ran: false, ...input.result },
        },
      ],
    });
  }

  /** The session's last write: its status, answer, usage and `session.ended`. */
  async function finishSession(input: FinishSessionInput): Promise<void> {
    await writeSessionRecords(db, input.session, endRecords(input));
  }

  /**
   * The last resort when `finishSession` cannot write (its event is refused, its
   * retries are spent): the session row still ends, with the reason, so that
   * no session stays `running` after its workflow is gone.
   */
  async function finishSessionRow(input: FinishSessionInput & { readonly writeError: string }): Promise<void> {
    const error = `${input.error ?? 'ended'}; the session.ended event could not be written: ${input.writeError}`;
    await writeSessionRecords(db, input.session, { patch: endRecords({ ...input, error }).patch });
  }

  // A write that cannot succeed (bad data, a violated constraint) fails the session at once, saying why.
  return withFailFast({ startSession, llmStep, appendUserMessages, recordEvents, recordToolResult, finishSession, finishSessionRow });
}

/**
 * The types of `session_events` and the scheme of their keys, defined once: a closed union, so an event
 * written under a misspelt type fails to compile. Both sources of events use it: the workflow's outbox
 * (workflows/outbox.ts, through the recordEvents activity) and the activities that write their own events
 * (activities/session-activities.ts, activities/sandbox-activities.ts); db/session-records.ts
 * writeSessionRecords is the one writer of both.
 * `session.ended` is the last event of a session. Bottom layer: imports nothing of the project and is
 * safe in workflow code.
 */
export const EVENT_TYPES = {
  sessionStarted: 'session.started',
  userMessage: 'message.user',
  llmResponse: 'llm.response',
  toolDecision: 'tool.decision',
  approvalRequested: 'approval.requested',
  approvalVote: 'approval.vote',
  /** A vote the workflow refused (closed gate, requester, excluded approver, missing role). */
  approvalRefused: 'approval.refused',
  approvalResolved: 'approval.resolved',
  /** A gate's Slack message could not be posted or updated; the gate still waits for votes by the API. */
  approvalNotifyFailed: 'approval.notify_failed',
  toolStarted: 'tool.started',
  toolResult: 'tool.result',
  sandboxClaimed: 'sandbox.claimed',
  sandboxLost: 'sandbox.lost',
  sandboxReleased: 'sandbox.released',
  /** Its workspace saved and its container gone while the session waits on people; the next tool call claims again. */
  sandboxParked: 'sandbox.parked',
  /** A park that did not happen (a process still runs, the save failed): the session keeps its sandbox. */
  sandboxParkRefused: 'sandbox.park_refused',
  /** A browser screenshot (base64 image, capped): for the console, never sent to the model. */
  browserScreenshot: 'browser.screenshot',
  sessionEnded: 'session.ended',
} as const;

export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

export const TERMINAL_EVENT: EventType = EVENT_TYPES.sessionEnded;

/**
 * Every event's key (`session_events.idempotency_key`) is `<source>:<id>`: what wrote it, and which one of
 * that writer's events it is. A session stores one event per key, so a retried activity or a replayed
 * write is stored once. The strings are those stored since the first release: existing rows keep their
 * keys, and an attempt retried across a deploy must make the key its first attempt made.
 */
export const EVENT_KEY_SOURCES = {
  /** What the workflow decided (workflows/outbox.ts): `wf:<n>`, n counted across continue-as-new. */
  workflow: 'wf',
  /** A user message, by its transcript seq: the first written by startSession, later ones sent by the workflow. */
  message: 'message',
  /** The model's answer, by its transcript seq (llmStep). */
  llm: 'llm',
  /** A tool call that runs / its result, by the transcript seq of the result. */
  toolStarted: 'tool-started',
  toolResult: 'tool-result',
  /** A claimed sandbox, by its container id (written with the first call that runs in it). */
  sandboxClaimed: 'sandbox-claimed',
  browserScreenshot: 'browser-screenshot',
} as const;

export type EventKeySource = (typeof EVENT_KEY_SOURCES)[keyof typeof EVENT_KEY_SOURCES];

/** The two events a session has once have no id: their key is their type, as it always was. */
export const ONCE_EVENT_KEYS = { started: EVENT_TYPES.sessionStarted, ended: EVENT_TYPES.sessionEnded } as const;

export type EventKey = `${EventKeySource}:${string}` | (typeof ONCE_EVENT_KEYS)[keyof typeof ONCE_EVENT_KEYS];

/** The key of `source`'s event `id`: the one place a key is made. */
export function eventKey(source: EventKeySource, id: string | number): EventKey {
  return `${source}:${id}`;
}

const SOURCES: ReadonlySet<string> = new Set(Object.values(EVENT_KEY_SOURCES));
const ONCE: ReadonlySet<string> = new Set(Object.values(ONCE_EVENT_KEYS));

/** Whether `key` is of the scheme: how a key the workflow made (`wf:<n>`, `message:<seq>`) is taken in. */
export function isEventKey(key: string): key is EventKey {
  if (ONCE.has(key)) return true;
  const colon = key.indexOf(':');
  return colon > 0 && colon < key.length - 1 && SOURCES.has(key.slice(0, colon));
}

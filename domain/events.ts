/**
 * The types of `session_events`, defined once: a closed union, so an event written under a misspelt type
 * fails to compile. Both writers use it: the workflow's outbox (workflows/outbox.ts) and the activities
 * that write their own events (activities/session-activities.ts, activities/sandbox-activities.ts).
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
  /** A browser screenshot (base64 image, capped): for the console, never sent to the model. */
  browserScreenshot: 'browser.screenshot',
  sessionEnded: 'session.ended',
} as const;

export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

export const TERMINAL_EVENT: EventType = EVENT_TYPES.sessionEnded;

/** The types of `session_events`, defined once. `session.ended` is the last event of a session. */
export const EVENT_TYPES = {
  sessionStarted: 'session.started',
  userMessage: 'message.user',
  llmResponse: 'llm.response',
  toolDecision: 'tool.decision',
  approvalRequested: 'approval.requested',
  approvalVote: 'approval.vote',
  approvalResolved: 'approval.resolved',
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

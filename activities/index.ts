/**
 * All activities, built from their dependencies (`createActivities(deps)`).
 * Workflows import the `Activities` type only.
 */
import { createSandboxActivities, type SandboxActivityDeps } from './sandbox-activities.js';
import { createSessionActivities, type SessionActivityDeps } from './session-activities.js';

export { createSandboxActivities, SANDBOX_GONE } from './sandbox-activities.js';
export { createSessionActivities } from './session-activities.js';
export type { SandboxActivityDeps, SessionActivityDeps };

export type SessionActivities = ReturnType<typeof createSessionActivities>;
export type SandboxActivities = ReturnType<typeof createSandboxActivities>;
export type Activities = SessionActivities & SandboxActivities;

export interface ActivityDeps {
  readonly session: SessionActivityDeps;
  readonly sandbox: SandboxActivityDeps;
}

/** Every activity; the worker registers the session ones and the sandbox ones on their own queues. */
export function createActivities(deps: ActivityDeps): Activities {
  return { ...createSessionActivities(deps.session), ...createSandboxActivities(deps.sandbox) };
}

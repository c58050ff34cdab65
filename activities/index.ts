/**
 * All activities, built from their dependencies (`createActivities(deps)`).
 * Workflows import the `Activities` type only.
 */
import { createAgentActivities } from './agent-activities.js';
import { createMaintenanceActivities, type MaintenanceActivityDeps } from './maintenance-activities.js';
import { createNotifyActivities, type NotifyActivityDeps } from './notify-activities.js';
import { createSandboxActivities, type SandboxActivityDeps } from './sandbox-activities.js';
import { createSessionActivities, type SessionActivityDeps } from './session-activities.js';
import { createVoteActivities } from './vote-proof.js';

export { createAgentActivities } from './agent-activities.js';
export { createMaintenanceActivities } from './maintenance-activities.js';
export { createNotifyActivities } from './notify-activities.js';
export { createSandboxActivities, SANDBOX_GONE } from './sandbox-activities.js';
export { createSessionActivities } from './session-activities.js';
export { createVoteActivities } from './vote-proof.js';
export type { MaintenanceActivityDeps, NotifyActivityDeps, SandboxActivityDeps, SessionActivityDeps };

export type SessionActivities = ReturnType<typeof createSessionActivities>;
export type SandboxActivities = ReturnType<typeof createSandboxActivities>;
export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
export type VoteActivities = ReturnType<typeof createVoteActivities>;
export type AgentActivities = ReturnType<typeof createAgentActivities>;
export type Activities = SessionActivities & SandboxActivities & NotifyActivities & MaintenanceActivities & VoteActivities & AgentActivities;

export interface ActivityDeps {
  readonly session: SessionActivityDeps;
  readonly sandbox: SandboxActivityDeps;
  readonly notify: NotifyActivityDeps;
  readonly maintenance: MaintenanceActivityDeps;
  readonly vote: Parameters<typeof createVoteActivities>[0];
}

/** Every activity; the worker registers the session and notify ones on the sessions queue, the sandbox ones on theirs. */
export function createActivities(deps: ActivityDeps): Activities {
  return {
    ...createSessionActivities(deps.session),
    ...createSandboxActivities(deps.sandbox),
    ...createNotifyActivities(deps.notify),
    ...createMaintenanceActivities(deps.maintenance),
    ...createVoteActivities(deps.vote),
    ...createAgentActivities(deps.notify),
  };
}

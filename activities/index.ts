/**
 * The activity factories, one per group (session, sandbox, notify, maintenance,
 * vote, agent), and their types. temporal/build-worker.ts registers each group on the
 * task queue that runs it; workflows import the types only.
 */
import type { createAgentActivities } from './agent-activities.js';
import type { createMaintenanceActivities, MaintenanceActivityDeps } from './maintenance-activities.js';
import type { createNotifyActivities, NotifyActivityDeps } from './notify-activities.js';
import type { createSandboxActivities, SandboxActivityDeps } from './sandbox-activities.js';
import type { createSessionActivities, SessionActivityDeps } from './session-activities.js';
import type { createVoteActivities } from './vote-proof.js';

export { createAgentActivities } from './agent-activities.js';
export { createMaintenanceActivities } from './maintenance-activities.js';
export { createNotifyActivities } from './notify-activities.js';
export { createSandboxActivities } from './sandbox-activities.js';
export { createSessionActivities } from './session-activities.js';
export { createVoteActivities } from './vote-proof.js';
export type { MaintenanceActivityDeps, NotifyActivityDeps, SandboxActivityDeps, SessionActivityDeps };

export type SessionActivities = ReturnType<typeof createSessionActivities>;
export type SandboxActivities = ReturnType<typeof createSandboxActivities>;
export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
export type MaintenanceActivities = ReturnType<typeof createMaintenanceActivities>;
export type VoteActivities = ReturnType<typeof createVoteActivities>;
export type AgentActivities = ReturnType<typeof createAgentActivities>;

/**
 * Which activities each task queue runs, as temporal/build-worker.ts registers them. A workflow's proxy for a
 * queue is typed with that queue's activities, so a call to an activity the queue's workers do not
 * register (an exec on the sessions queue) fails to compile instead of timing out at run time.
 */
import type { AgentActivities, MaintenanceActivities, NotifyActivities, SandboxActivities, SessionActivities, VoteActivities } from './index.js';

/** The sessions queue: store writes, model calls, Slack messages, maintenance, vote proofs, agent promotions. */
export type SessionsQueueActivities = SessionActivities & NotifyActivities & MaintenanceActivities & VoteActivities & AgentActivities;

/** The shared sandbox queue: claims, taken by whichever sandbox host has room. */
export type SandboxQueueActivities = Pick<SandboxActivities, 'claimSandbox'>;

/** One sandbox host's own queue: runs and releases on the sandboxes it holds. */
export type HostQueueActivities = Pick<SandboxActivities, 'execTool' | 'releaseSandbox' | 'parkSandbox'>;

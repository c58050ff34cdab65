/**
 * Every name Temporal sees, defined once: task queues, workflow types,
 * the session workflow's signals, query and update, and search attributes. Bottom layer: the API, the worker, the workflows and the
 * tests all take them from here; imports nothing and is safe in workflow code.
 */

/** The task queues of one deployment; `prefix` comes from TASK_QUEUE_PREFIX. */
export interface TaskQueues {
  /** Workflows, model calls, store and notify activities. */
  readonly sessions: string;
  /** Sandbox claims: any worker with a pool may answer. */
  readonly sandbox: string;
}

export function taskQueues(prefix: string): TaskQueues {
  return { sessions: `${prefix}-sessions`, sandbox: `${prefix}-sandbox` };
}

/**
 * The worker-specific queue of one sandbox host: exec, file and release
 * activities of a claimed sandbox go here (the worker-specific task queue pattern).
 */
export function sandboxHostQueue(prefix: string, hostId: string): string {
  return `${prefix}-sandbox@${hostId}`;
}

export const WORKFLOW_TYPES = { agentSession: 'agentSession', maintenance: 'maintenance' } as const;

/**
 * The agent session's signals, query and update, by name (workflows/definitions.ts defines them with their
 * types). Recorded histories name them: never rename one.
 */
export const SESSION_HANDLERS = {
  userMessage: 'userMessage',
  approval: 'approval',
  cancel: 'cancel',
  state: 'state',
  approve: 'approve',
} as const;

/** The id of a deployment's maintenance schedule (one per TASK_QUEUE_PREFIX). */
export function maintenanceScheduleId(prefix: string): string {
  return `${prefix}-maintenance`;
}

/** Custom search attributes; registered at worker start (and by `make dev` on the dev server). */
export const SEARCH_ATTRIBUTES = {
  tenant: 'KortixTenant',
  agent: 'KortixAgent',
  status: 'KortixStatus',
  /** The agent version (sha) a session pinned at start (the Agent Builder). */
  agentVersion: 'KortixAgentVersion',
} as const;

/** The failure type of a tool call whose sandbox is gone: the session workflow reacts by claiming a new sandbox. */
export const SANDBOX_GONE = 'SandboxGone';
/** The failure type of a tool run whose sandbox was parked for a waiting claim (details: the parked workspace): the session claims again with it. */
export const SANDBOX_PARKED = 'SandboxParked';

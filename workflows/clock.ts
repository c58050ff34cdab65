/**
 * Workflow time. The Temporal SDK replaces `Date` inside workflows with the
 * time of the current workflow task, so this is deterministic on replay; lint
 * allows `Date` in workflows only here, so every use of time is visible.
 */
export function workflowNow(): number {
  return Date.now();
}

export function workflowIso(offsetMs = 0): string {
  return new Date(workflowNow() + offsetMs).toISOString();
}

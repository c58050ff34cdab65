/**
 * The change ids (workflow versioning) of the agent session: each guards a
 * command that sessions recorded before it did not issue, so their histories
 * (test/histories/) still replay. Vote intake and the outbox keep theirs
 * beside their code (vote-intake.ts, outbox.ts).
 */

/** Sessions with secrets hand them to the sandbox activities; none recorded before had any. */
export const SESSION_SECRETS_PATCH = 'session-secrets';
/** Browser calls are judged with the page the model last saw; sessions recorded before had no browser. */
export const BROWSER_PAGE_PATCH = 'browser-page-url';
/**
 * A shell call may ask for secrets to be mounted for it alone (`mount_secrets`): it then waits on a gate
 * and its run gets the mounts. Calls recorded before ignored the argument (the parser dropped it).
 */
export const SECRET_MOUNT_PATCH = 'secret-mount-once';
/**
 * The tool activity writes its own events (sandbox.claimed, tool.started, tool.result) while the outbox
 * writes the workflow's in the background: a slow outbox write (a retry, a busy worker) let the tool's
 * events overtake approval.resolved in the stream. The outbox is drained before the tool runs; sessions
 * recorded before ran the tool at once.
 */
export const EVENTS_BEFORE_TOOL_PATCH = 'events-before-tool';
/**
 * A session ends after its gates' Slack messages show their last state, waiting at most SLACK_SETTLE_WAIT
 * (a Slack outage must not hold the session's end for the notifier's whole retry budget); sessions
 * recorded before ended at once.
 */
export const SLACK_SETTLED_BEFORE_END_PATCH = 'slack-settled-before-end';
export const SLACK_SETTLE_WAIT = '10s';
/**
 * A step without gates hands its `tool.decision` events to its first tool activity (execTool or
 * recordToolResult), which writes them first in its own write: per tool step one activity and one workflow
 * task fewer (issue 16). Sessions recorded before wrote them with a recordEvents of their own.
 */
export const DECISIONS_WITH_STEP_PATCH = 'decisions-with-step';
/**
 * With the session's `tuning.localModelCalls`, its model calls run as local activities in the worker that
 * runs the workflow: no activity task for the server to schedule, match and record, and no workflow task
 * of their own, so a step is one activity task and one workflow task fewer (issue 16). Sessions recorded
 * before, and sessions without the setting, call the model as a regular activity.
 */
export const LOCAL_MODEL_CALLS_PATCH = 'local-model-calls';
/**
 * With the session's `tuning.sandboxParkAfterMs`, a sandbox held while the session waits on people (a gate, a
 * follow-up message) longer than that is parked (workflows/session-park.ts): a timer and a parkSandbox
 * activity that sessions recorded before never issued.
 */
export const SANDBOX_PARK_PATCH = 'sandbox-park';

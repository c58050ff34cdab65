/** The workflows the worker registers (its `workflowsPath`). */
export { agentSession } from './agent-session.js';
export { maintenance } from './maintenance.js';

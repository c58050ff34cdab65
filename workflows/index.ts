/** The workflows the worker registers (its `workflowsPath`). */
export { agentSession } from './agent-session.js';

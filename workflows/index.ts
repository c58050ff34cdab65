/** The workflows the worker registers (its `workflowsPath`). */
export { agentPromotion } from './agent-promotion.js';
export { agentSession } from './agent-session.js';
export { maintenance } from './maintenance.js';

/** Where a workflow is in the Temporal Web UI: one spelling for the API's links and the Slack messages. */
import type { Env } from './index.js';

export function temporalUiWorkflowUrl(config: Pick<Env, 'TEMPORAL_UI_URL' | 'TEMPORAL_NAMESPACE'>, workflowId: string): string {
  return `${config.TEMPORAL_UI_URL.replace(/\/$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(workflowId)}`;
}

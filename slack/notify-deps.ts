/** The Slack side of the notify activities, from the configuration. */
import type { Env } from '../config/index.js';
import { temporalUiWorkflowUrl } from '../config/temporal-ui.js';
import { SlackClient } from './client.js';

export function slackNotifyDeps(config: Pick<Env, 'SLACK_API_URL' | 'SLACK_BOT_TOKEN' | 'PUBLIC_API_URL' | 'API_HOST' | 'API_PORT' | 'TEMPORAL_UI_URL' | 'TEMPORAL_NAMESPACE'>) {
  const token = config.SLACK_BOT_TOKEN;
  const api = (config.PUBLIC_API_URL ?? `http://${config.API_HOST}:${config.API_PORT}`).replace(/\/$/, '');
  return {
    slack: token ? new SlackClient({ baseUrl: config.SLACK_API_URL, token: () => token.reveal() }) : undefined,
    links: (sessionId: string) => ({
      session: `${api}/v1/sessions/${sessionId}`,
      temporalUi: temporalUiWorkflowUrl(config, sessionId),
    }),
  };
}

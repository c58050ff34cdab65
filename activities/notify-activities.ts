/**
 * Notifications of approval gates: a Block Kit message with buttons in the
 * Slack channel the policy names, updated as votes arrive and when the gate
 * closes. Slack being down never blocks a gate: these activities run beside
 * it, retrying, while approvals through the API keep working.
 */
import { trace } from '@opentelemetry/api';
import { ApplicationFailure } from '@temporalio/activity';
import { gateSlackMessage, setGateSlackMessage } from '../db/approvals.js';
import type { Db } from '../db/client.js';
import type { SessionRef } from '../domain/session.js';
import { SlackApiError, type SlackClient } from '../slack/client.js';
import { renderGateMessage } from '../slack/gate-message.js';
import type { GateView } from '../domain/gate.js';
import { withFailFast } from './permanent-errors.js';

export interface NotifyActivityDeps {
  readonly db: Db;
  /** Absent when SLACK_BOT_TOKEN is not set. */
  readonly slack?: SlackClient | undefined;
  /** Links shown in messages. */
  readonly links: (sessionId: string) => { session: string; temporalUi: string };
}

/** Where a gate's message was posted. */
export interface PostedMessage {
  readonly channel: string;
  readonly ts: string;
}

function toFailure(err: unknown): unknown {
  if (err instanceof SlackApiError) {
    return ApplicationFailure.create({ type: 'SlackApiError', message: err.message, nonRetryable: !err.retryable });
  }
  return err;
}

export function createNotifyActivities({ db, slack, links }: NotifyActivityDeps) {
  function client(): SlackClient {
    if (!slack) {
      throw ApplicationFailure.create({
        type: 'SlackNotConfigured',
        message: 'the policy names a Slack channel but SLACK_BOT_TOKEN is not set',
        nonRetryable: true,
      });
    }
    return slack;
  }

  /** Posts the gate once (a retry finds the message already posted in the gate's row). */
  async function postGateMessage(input: { session: SessionRef; gate: GateView }): Promise<PostedMessage> {
    const { session, gate } = input;
    const ref = { tenantId: session.tenantId, sessionId: session.sessionId, gateId: gate.id };
    const already = await gateSlackMessage(db, ref);
    if (already) return already;
    const channel = gate.slackChannel;
    if (!channel) throw ApplicationFailure.create({ type: 'NoChannel', message: `gate ${gate.id} names no Slack channel`, nonRetryable: true });
    let posted: PostedMessage;
    try {
      posted = await client().postMessage(renderGateMessage(channel, session.sessionId, gate, links(session.sessionId)));
    } catch (err) {
      throw toFailure(err);
    }
    trace.getActiveSpan()?.setAttributes({ 'kortix.session': session.sessionId, 'slack.channel': posted.channel, 'approval.gate': gate.id });
    await setGateSlackMessage(db, ref, posted);
    return posted;
  }

  /** Shows the gate's current state (votes, outcome) in its message. */
  async function updateGateMessage(input: { session: SessionRef; gate: GateView; message: PostedMessage }): Promise<void> {
    try {
      await client().updateMessage({
        ...renderGateMessage(input.message.channel, input.session.sessionId, input.gate, links(input.session.sessionId)),
        ts: input.message.ts,
      });
    } catch (err) {
      throw toFailure(err);
    }
  }

  return withFailFast({ postGateMessage, updateGateMessage });
}

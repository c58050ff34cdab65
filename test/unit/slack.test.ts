/** Slack request signing and the gate message. */
import { describe, expect, it } from 'vitest';
import { renderGateMessage } from '../../slack/gate-message.js';
import { slackSignature, verifySlackSignature } from '../../slack/signature.js';
import { gateView } from '../support/gate-view.js';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

describe('verifySlackSignature', () => {
  const now = 1_700_000_000;
  const ts = String(now - 10);

  it('accepts a request signed with the secret within five minutes', () => {
    expect(verifySlackSignature(SECRET, { timestamp: ts, signature: slackSignature(SECRET, ts, BODY) }, BODY, now)).toEqual({ ok: true });
  });

  it('refuses another secret, a changed body, a stale or missing timestamp', () => {
    const good = slackSignature(SECRET, ts, BODY);
    expect(verifySlackSignature(SECRET, { timestamp: ts, signature: slackSignature('other', ts, BODY) }, BODY, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifySlackSignature(SECRET, { timestamp: ts, signature: good }, `${BODY}x`, now)).toEqual({ ok: false, reason: 'bad_signature' });
    const old = String(now - 301);
    expect(verifySlackSignature(SECRET, { timestamp: old, signature: slackSignature(SECRET, old, BODY) }, BODY, now)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verifySlackSignature(SECRET, { timestamp: undefined, signature: good }, BODY, now)).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifySlackSignature(SECRET, { timestamp: ts, signature: 'v0=short' }, BODY, now)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('computes the documented v0 signature', () => {
    // The example of Slack's documentation.
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(slackSignature(SECRET, '1531420618', body)).toBe('v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503');
  });
});

describe('renderGateMessage', () => {
  const gate = gateView({
    roles: ['admin', 'security'],
    approvals: [{ approver: 'bob', roles: ['admin'], channel: 'slack', at: '2026-01-01T00:00:00Z' }],
    missingRoles: ['security'],
  });
  const links = { session: 'http://api/v1/sessions/ses_1', temporalUi: 'http://ui/x' };

  it('shows the call, the rule, the link and buttons that carry the gate', () => {
    const msg = renderGateMessage('#approvals', 'ses_1', gate, links);
    const text = JSON.stringify(msg.blocks);
    expect(msg.channel).toBe('#approvals');
    for (const part of ['rm -rf /workspace/.cache', 'shell-destructive-or-network', 'high risk', 'http://api/v1/sessions/ses_1', 'still needs security', 'bob (admin) via slack']) {
      expect(text).toContain(part);
    }
    const actions = msg.blocks.find((b) => (b as { type: string }).type === 'actions') as { elements: { action_id: string; value: string }[] };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['approve', 'reject']);
    expect(JSON.parse(actions.elements[0]?.value ?? '')).toEqual({ sessionId: 'ses_1', gateId: 'gate-3' });
  });

  it('drops the buttons and says who decided once the gate is closed', () => {
    const msg = renderGateMessage('#approvals', 'ses_1', { ...gate, status: 'rejected', rejectedBy: 'carol' }, links);
    expect(msg.blocks.some((b) => (b as { type: string }).type === 'actions')).toBe(false);
    expect(JSON.stringify(msg.blocks)).toContain('Rejected* by carol');
  });
});

/** The API's signature over a vote: any change to what decides the vote, another key or another session breaks it. */
import { describe, expect, it } from 'vitest';
import { createVoteActivities, signVote, voteProofValid } from '../../activities/vote-proof.js';
import { ConfigError, loadConfig, voteSigningKey } from '../../config/index.js';
import type { ApprovalVote } from '../../workflows/definitions.js';

const KEY = 'k'.repeat(40);
const vote: ApprovalVote = { gateId: 'gate-3', approver: 'bob', roles: ['admin', 'security'], decision: 'approve', channel: 'api', comment: 'ok' };
const signed = (v: ApprovalVote, session = 'ses_a', key = KEY): ApprovalVote => ({ ...v, proof: signVote(key, session, v) });

describe('vote proof', () => {
  it('holds for the vote it was made for, whatever the order of the roles', () => {
    expect(voteProofValid(KEY, 'ses_a', signed(vote))).toBe(true);
    expect(voteProofValid(KEY, 'ses_a', { ...signed(vote), roles: ['security', 'admin'] })).toBe(true);
  });

  it.each([
    ['approver', { approver: 'eve' }],
    ['roles', { roles: ['admin'] }],
    ['decision', { decision: 'reject' }],
    ['gate', { gateId: 'gate-4' }],
    ['channel', { channel: 'slack' }],
    ['comment', { comment: 'changed' }],
  ] as const)('breaks when the %s changes after signing', (_, change) => {
    expect(voteProofValid(KEY, 'ses_a', { ...signed(vote), ...change })).toBe(false);
  });

  it('breaks for another session, another key, or a malformed proof', () => {
    expect(voteProofValid(KEY, 'ses_b', signed(vote))).toBe(false);
    expect(voteProofValid(KEY, 'ses_a', signed(vote, 'ses_a', 'another-key'))).toBe(false);
    for (const proof of [undefined, '', 'v1.', 'v1.zz', `v2.${'0'.repeat(64)}`, `v1.${'0'.repeat(63)}`, `v1.${'0'.repeat(64)}`]) {
      expect(voteProofValid(KEY, 'ses_a', { ...vote, proof })).toBe(false);
    }
  });

  it('the activity answers with the same check', async () => {
    const { verifyVote } = createVoteActivities({ key: KEY });
    expect(await verifyVote({ sessionId: 'ses_a', vote: signed(vote) })).toBe(true);
    expect(await verifyVote({ sessionId: 'ses_a', vote })).toBe(false);
  });

  it('production needs its own key of 32 characters or more; elsewhere a fixed dev key serves', () => {
    expect(() => loadConfig({ KORTIX_ENV: 'prod', DATABASE_URL: 'postgres://x@h/db' })).toThrow(/VOTE_SIGNING_KEY: required with KORTIX_ENV=prod/);
    expect(() => loadConfig({ KORTIX_ENV: 'prod', DATABASE_URL: 'postgres://x@h/db', VOTE_SIGNING_KEY: 'short' })).toThrow(ConfigError);
    expect(voteSigningKey(loadConfig({ KORTIX_ENV: 'prod', DATABASE_URL: 'postgres://x@h/db', VOTE_SIGNING_KEY: KEY, PAYLOAD_CODEC_RING: '/keys.json' }))).toBe(KEY);
    expect(voteSigningKey(loadConfig({ KORTIX_ENV: 'test' }))).toMatch(/not for production/);
  });
});

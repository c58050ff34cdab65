/**
 * The one gate shape, read back from JSON: a recordEvents input of an older workflow (`gateId` for `id`,
 * as recorded histories hold them) is taken in as the current shape; a promotion's stored gate is checked.
 */
import { describe, expect, it } from 'vitest';
import { gateViewSchema, recordedGateSchema } from '../../domain/gate-schema.js';
import { gateView } from '../support/gate-view.js';

describe('gate schema', () => {
  const { missingRoles: _derived, ...state } = gateView({ approvals: [{ approver: 'bob', roles: ['admin'], channel: 'api', at: '2026-01-01T00:01:00Z' }] });

  it('takes a gate the workflow sends now as it is', () => {
    expect(recordedGateSchema.parse(JSON.parse(JSON.stringify(state)))).toEqual(state);
  });

  it('takes a gate an older workflow sent with `gateId` as the same gate', () => {
    const { id, ...rest } = state;
    expect(recordedGateSchema.parse({ gateId: id, ...rest })).toEqual(state);
  });

  it('refuses what is not a gate', () => {
    expect(recordedGateSchema.safeParse({ ...state, status: 'maybe' }).success).toBe(false);
    expect(gateViewSchema.safeParse({ ...state }).success).toBe(false);
    expect(gateViewSchema.parse(gateView())).toEqual(gateView());
  });
});

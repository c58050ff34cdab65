/**
 * The gate of domain/gate.ts as a schema: how a gate read back from JSON is taken in, checked instead of
 * cast (a promotion's stored gate; a gate in a recordEvents input that an older workflow scheduled). Apart
 * from gate.ts because workflow code imports that one: zod stays out of the workflow bundle.
 */
import { z } from 'zod';
import { GATE_STATUSES, type GateState, type GateView } from './gate.js';

const strings = z.array(z.string());

const gateStateShape = {
  id: z.string(),
  toolCallId: z.string(),
  tool: z.string(),
  arguments: z.record(z.string(), z.unknown()),
  risk: z.string(),
  reason: z.string(),
  ruleId: z.string(),
  requester: z.string(),
  required: z.number().int(),
  roles: strings,
  excludedApprovers: strings,
  approvals: z.array(z.object({ approver: z.string(), roles: strings, channel: z.string(), at: z.string() })),
  rejectedBy: z.string().optional(),
  status: z.enum(GATE_STATUSES),
  openedAt: z.string(),
  expiresAt: z.string(),
  slackChannel: z.string().nullable(),
};

export const gateStateSchema = z.object(gateStateShape) satisfies z.ZodType<GateState>;

/** What a promotion stores (the promotion workflow writes gateView(gate)). */
export const gateViewSchema = z.object({ ...gateStateShape, missingRoles: strings }) satisfies z.ZodType<GateView>;

/**
 * A session gate as the recordEvents activity takes it. Workflows before the one gate shape sent the id as
 * `gateId` (recorded histories hold such inputs; an attempt retried across the deploy still sends one).
 */
export const recordedGateSchema = z.preprocess((value) => {
  if (typeof value !== 'object' || value === null || 'id' in value || !('gateId' in value)) return value;
  const { gateId, ...rest } = value;
  return { ...rest, id: gateId };
}, gateStateSchema);

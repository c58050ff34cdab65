/**
 * The policy a session of an agent version runs under: the version's policy
 * with the version's tools (never more than the policy offers), its network
 * allowlist (in place of the policy's) and its limits (only tighter). The
 * same function feeds sessions and the promotion risk, so what is judged at
 * promotion is what sessions get.
 */
import { applyOverrides } from '../policies/load.js';
import type { Policy } from '../policies/schema.js';
import type { AgentSpec } from './schema.js';

export interface RequestLimits {
  readonly maxSteps?: number | undefined;
  readonly maxCostUsd?: number | undefined;
  readonly approvalTimeoutSeconds?: number | undefined;
}

const seconds = (s: number | undefined) => (s === undefined ? undefined : s * 1000);

/** `base` as the version narrows it, then narrowed again by a request's limits. */
export function effectivePolicy(spec: AgentSpec, base: Policy, request?: RequestLimits): Policy {
  const narrowed = applyOverrides(
    { ...base, tools: base.tools.filter((t) => spec.tools.includes(t)), network: { allow: [...spec.network.allow] } },
    { maxSteps: spec.limits.maxSteps, maxCostUsd: spec.limits.maxCostUsd, approvalTimeoutMs: seconds(spec.limits.approvalTimeoutSeconds) },
  );
  return applyOverrides(narrowed, {
    maxSteps: request?.maxSteps,
    maxCostUsd: request?.maxCostUsd,
    approvalTimeoutMs: seconds(request?.approvalTimeoutSeconds),
  });
}

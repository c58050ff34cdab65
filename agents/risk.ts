/**
 * The risk of moving a label from one version to another: every way the
 * sessions of the new version would be let do more than those of the old
 * (policies/compare.ts on the effective policies, plus secrets added). Any
 * looser change makes a `production` move need approval (a gate); tighter or
 * equal moves at once.
 */
import { comparePolicies, setChanges, type PolicyChange } from '../policies/compare.js';
import type { Policy } from '../policies/schema.js';
import { effectivePolicy } from './effective.js';
import type { AgentSpec } from './schema.js';

/** A secret reference as one comparable string: a new host, another way of injecting or a mount is a change of its own. */
function secretKeys(spec: AgentSpec): string[] {
  return spec.secrets.map((ref) => {
    if (typeof ref === 'string') return ref;
    const inject = ref.inject;
    const how = inject === undefined ? '' : 'header' in inject ? `${inject.header}: ${inject.format}` : `basic auth as ${inject.basicAuth.username}`;
    const bound = ref.hosts ? ` → ${ref.hosts.join(', ')} (${how})` : '';
    // A mount is a way of using the value of its own: adding one (or moving it) is a looser change.
    return `${ref.name}${bound}${ref.mount ? ` mounted at ${ref.mount.path}` : ''}`;
  });
}

export interface VersionUnderPolicy {
  readonly spec: AgentSpec;
  /** The version's policy as resolved (template or tenant policy). */
  readonly policy: Policy;
}

export interface PromotionRisk {
  /** True when anything got looser: the move needs approval. */
  readonly risky: boolean;
  /** The looser changes: what made it risky. */
  readonly reasons: readonly PolicyChange[];
  /** Every change, looser and tighter. */
  readonly changes: readonly PolicyChange[];
}

export function classifyRisk(from: VersionUnderPolicy | null, to: VersionUnderPolicy): PromotionRisk {
  // A label's first version has nothing to be looser than.
  if (!from) return { risky: false, reasons: [], changes: [] };
  const changes = [
    ...comparePolicies(effectivePolicy(from.spec, from.policy), effectivePolicy(to.spec, to.policy)),
    ...setChanges('secrets', secretKeys(from.spec), secretKeys(to.spec), 'secrets'),
  ];
  const reasons = changes.filter((c) => c.direction === 'looser');
  return { risky: reasons.length > 0, reasons, changes };
}

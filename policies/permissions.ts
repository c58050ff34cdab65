/**
 * Which policies a principal may start a session with: the tenant's
 * decision, not the requester's. A tenant's settings (tenants.policy_settings,
 * set with `npm run tenant -- policy`) name its default policy, the policies
 * allowed (`*`: every policy the tenant can see), and the looser ones that
 * only some roles may use. A tenant without settings gets DEFAULT_POLICY_SETTINGS:
 * every policy but `permissive`, which no one may use until the tenant names
 * the roles that may.
 */
import { z } from 'zod';

const policyName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a policy name');
const roleName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a role name (lowercase)');

export const policySettingsSchema = z
  .object({
    /** The policy of a session that names none (absent: the configured DEFAULT_POLICY). */
    default: policyName.optional(),
    /** Policies the tenant's principals may use; `*` is every policy of the tenant. */
    allowed: z.array(z.union([policyName, z.literal('*')])).min(1).max(100),
    /** Policies (looser ones) that only principals holding one of `roles` may use. */
    elevated: z
      .object({ roles: z.array(roleName).max(20), policies: z.array(policyName).max(100) })
      .strict(),
  })
  .strict();

export type PolicySettings = z.infer<typeof policySettingsSchema>;

export const DEFAULT_POLICY_SETTINGS: PolicySettings = { allowed: ['*'], elevated: { roles: [], policies: ['permissive'] } };

export type PolicyPermission =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'policy_not_allowed' | 'policy_needs_role'; readonly message: string };

/** May a principal holding `roles` start a session with `policy`? */
export function policyPermission(settings: PolicySettings, roles: readonly string[], policy: string): PolicyPermission {
  if (!settings.allowed.includes('*') && !settings.allowed.includes(policy)) {
    return { ok: false, code: 'policy_not_allowed', message: `policy "${policy}" is not allowed in this tenant; allowed: ${settings.allowed.join(', ')}` };
  }
  if (settings.elevated.policies.includes(policy) && !settings.elevated.roles.some((r) => roles.includes(r))) {
    const who = settings.elevated.roles.length ? `a principal with role ${settings.elevated.roles.join(' or ')}` : 'no one (the tenant names no role for it)';
    return { ok: false, code: 'policy_needs_role', message: `policy "${policy}" may be used by ${who}` };
  }
  return { ok: true };
}

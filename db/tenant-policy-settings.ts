/** A tenant's policy settings (tenants.policy_settings), validated on the way in and out. */
import { DEFAULT_POLICY_SETTINGS, policySettingsSchema, type PolicySettings } from '../policies/permissions.js';
import type { Db } from './client.js';
import { storableJson } from './storable.js';

/** The tenant's settings, or the defaults when it has none (or the tenant is unknown). */
export async function tenantPolicySettings(db: Db, tenantId: string): Promise<PolicySettings> {
  const row = await db.selectFrom('tenants').select('policy_settings').where('id', '=', tenantId).executeTakeFirst();
  return row?.policy_settings ? policySettingsSchema.parse(row.policy_settings) : DEFAULT_POLICY_SETTINGS;
}

/** Replaces the tenant's settings (null: back to the defaults); false when there is no such tenant. */
export async function setTenantPolicySettings(db: Db, tenantId: string, settings: PolicySettings | null): Promise<boolean> {
  const value = settings === null ? null : storableJson(policySettingsSchema.parse(settings));
  const result = await db.updateTable('tenants').set({ policy_settings: value }).where('id', '=', tenantId).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

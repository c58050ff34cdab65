/**
 * Which tenant owns a workflow, by its id: the payload codec's lookup
 * (temporal/codec/payload-codec.ts) when it must encrypt for a workflow it has
 * not decoded anything of yet. The only query here not scoped by a tenant: it is
 * how the tenant is found, and its answer never leaves the codec.
 */
import type { Db } from './client.js';

export async function tenantOfWorkflow(db: Db, workflowId: string): Promise<string | null> {
  if (workflowId.startsWith('ses_')) {
    const row = await db.selectFrom('sessions').select('tenant_id').where('id', '=', workflowId).executeTakeFirst();
    return row?.tenant_id ?? null;
  }
  if (workflowId.startsWith('agp_')) {
    const row = await db.selectFrom('agent_promotions').select('tenant_id').where('id', '=', workflowId).executeTakeFirst();
    return row?.tenant_id ?? null;
  }
  return null;
}

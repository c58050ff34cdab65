/** Runs the kysely migrations (listed statically, so bundles and images need no migrations folder). */
import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { Db } from './client.js';
import * as m0001 from './migrations/0001_init.js';
import * as m0002 from './migrations/0002_approvals.js';
import * as m0003 from './migrations/0003_router.js';
import * as m0004pp from './migrations/0004_policy_permissions.js';
import * as m0004tl from './migrations/0004_tenant_limits.js';
import * as m0007eg from './migrations/0007_egress_grants.js';
import * as m0010se from './migrations/0010_secrets.js';
import * as m0008ar from './migrations/0008_artifacts.js';
import * as m0005ag from './migrations/0005_agents.js';
import * as m0006pv from './migrations/0006_policy_versions.js';
import * as m0009rt from './migrations/0009_retention.js';
import * as m0011sc from './migrations/0011_semantic_cache.js';
import * as m0013ae from './migrations/0013_artifact_expiry.js';
import * as m0014gs from './migrations/0014_gate_slack_message.js';
import * as m0015ss from './migrations/0015_session_starts.js';
import { ensureMonthlyPartitions } from './partitions.js';

const MIGRATIONS: Record<string, Migration> = {
  '0001_init': m0001,
  '0002_approvals': m0002,
  '0003_router': m0003,
  '0004_policy_permissions': m0004pp,
  '0004_tenant_limits': m0004tl,
  '0007_egress_grants': m0007eg,
  '0010_secrets': m0010se,
  '0008_artifacts': m0008ar,
  '0005_agents': m0005ag,
  '0006_policy_versions': m0006pv,
  '0009_retention': m0009rt,
  '0011_semantic_cache': m0011sc,
  '0013_artifact_expiry': m0013ae,
  '0014_gate_slack_message': m0014gs,
  '0015_session_starts': m0015ss,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Migrates to the latest version and creates the coming months' partitions; throws on failure. */
export async function migrateToLatest(db: Db): Promise<{ applied: string[] }> {
  // Several changes add migrations side by side (0004_*): one applied on a database before another that sorts earlier must not wedge it.
  const migrator = new Migrator({ db, provider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const cause = error instanceof Error ? error.message : String(error ?? 'unknown error');
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${cause}`);
  }
  await ensureMonthlyPartitions(db);
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

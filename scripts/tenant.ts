/**
 * `npm run tenant -- create <tenant-id> <principal>[:role,role] ...`
 * Creates a tenant (if missing) and one API key per principal, printed once
 * as `principal<TAB>key`. Keys are stored only as sha256.
 *
 * `npm run tenant -- policy <tenant-id> [--default P] [--allow P,P|*]
 * [--elevated-roles R,R] [--elevated-policies P,P] [--reset]`
 * Sets which policies the tenant's principals may start sessions with
 * (policies/permissions.ts), then prints the settings as JSON; with no option
 * it only prints them.
 */
import { ConfigError, loadConfigOrExit, requireDatabaseUrl } from '../config/index.js';
import { createDb } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { setTenantPolicySettings, tenantPolicySettings } from '../db/tenant-policy-settings.js';
import { createApiKey, createTenant } from '../db/tenants.js';
import { PolicyStore } from '../policies/load.js';
import { policySettingsSchema, type PolicySettings } from '../policies/permissions.js';

const USAGE = [
  'usage: npm run tenant -- create <tenant-id> <principal>[:role,role] [<principal>...]',
  '       npm run tenant -- policy <tenant-id> [--default P] [--allow P,P|*] [--elevated-roles R,R] [--elevated-policies P,P] [--reset]',
].join('\n');

function usage(problem?: string): never {
  process.stderr.write(`${problem ? `${problem}\n` : ''}${USAGE}\n`);
  process.exit(2);
}

/** The settings after applying the options to the current ones; refuses a policy name the tenant cannot see. */
function applyPolicyOptions(current: PolicySettings, options: string[], known: readonly string[]): PolicySettings {
  const next: PolicySettings = structuredClone(current);
  for (let i = 0; i < options.length; i += 2) {
    const [flag, value] = [options[i], options[i + 1]];
    if (flag === '--reset') usage('--reset goes alone');
    if (value === undefined) usage(`${flag} needs a value`);
    const list = value.split(',').filter(Boolean);
    if (flag === '--default') next.default = value;
    else if (flag === '--allow') next.allowed = list;
    else if (flag === '--elevated-roles') next.elevated.roles = list;
    else if (flag === '--elevated-policies') next.elevated.policies = list;
    else usage(`unknown option ${flag}`);
  }
  const parsed = policySettingsSchema.safeParse(next);
  if (!parsed.success) usage(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  const named = [...(parsed.data.default ? [parsed.data.default] : []), ...parsed.data.allowed, ...parsed.data.elevated.policies];
  const unknown = named.filter((n) => n !== '*' && !known.includes(n));
  if (unknown.length) usage(`unknown policy ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return parsed.data;
}

async function main(argv: string[]): Promise<void> {
  const [command, tenantId, ...rest] = argv;
  if ((command !== 'create' && command !== 'policy') || !tenantId || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(tenantId)) usage();
  if (command === 'create' && rest.length === 0) usage();
  const config = loadConfigOrExit();
  const db = createDb({ url: requireDatabaseUrl(config), applicationName: 'kortix-tenant' });
  try {
    await migrateToLatest(db);
    if (command === 'policy') {
      const known = new PolicyStore(config.POLICIES_DIR).names(tenantId);
      if (rest.length > 0) {
        // --reset: back to the defaults (DEFAULT_POLICY_SETTINGS).
        const settings = rest.length === 1 && rest[0] === '--reset' ? null : applyPolicyOptions(await tenantPolicySettings(db, tenantId), rest, known);
        if (!(await setTenantPolicySettings(db, tenantId, settings))) usage(`no tenant "${tenantId}" (create it first)`);
      }
      process.stdout.write(`${JSON.stringify(await tenantPolicySettings(db, tenantId))}\n`);
      return;
    }
    await createTenant(db, { id: tenantId });
    for (const spec of rest) {
      const [principal = '', roles = ''] = spec.split(':');
      const { key } = await createApiKey(db, { tenantId, principal, roles: roles.split(',').filter(Boolean) });
      process.stdout.write(`${principal}\t${key}\n`);
    }
  } finally {
    await db.destroy();
  }
}

await main(process.argv.slice(2)).catch((err: unknown) => {
  // A missing setting is a message for the person at the shell, not a stack trace.
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(78); // EX_CONFIG, as loadConfigOrExit
});

/**
 * `npm run tenant -- create <tenant-id> <principal>[:role,role] ...`
 * Creates a tenant (if missing) and one API key per principal, printed once
 * as `principal<TAB>key`. Keys are stored only as sha256.
 */
import { ConfigError, loadConfigOrExit, requireDatabaseUrl } from '../config/index.js';
import { createDb } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { createApiKey, createTenant } from '../db/tenants.js';

const USAGE = 'usage: npm run tenant -- create <tenant-id> <principal>[:role,role] [<principal>...]';

async function main(argv: string[]): Promise<void> {
  const [command, tenantId, ...principals] = argv;
  if (command !== 'create' || !tenantId || principals.length === 0 || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(tenantId)) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const db = createDb({ url: requireDatabaseUrl(config), applicationName: 'kortix-tenant' });
  try {
    await migrateToLatest(db);
    await createTenant(db, { id: tenantId });
    for (const spec of principals) {
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

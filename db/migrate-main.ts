/** `npm run migrate`: applies migrations to DATABASE_URL. */
import { loadConfigOrExit, requireDatabaseUrl } from '../config/index.js';
import { createDb } from './client.js';
import { migrateToLatest } from './migrate.js';

const config = loadConfigOrExit();
const db = createDb({ url: requireDatabaseUrl(config), applicationName: 'kortix-migrate' });
try {
  const { applied } = await migrateToLatest(db);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
} finally {
  await db.destroy();
}

/**
 * Reads of a session whose month went to the cold tier (retention/archive.ts)
 * answer 410 `archived`, naming the month and the command that restores it,
 * rather than an empty stream that would look like a session with no events.
 */
import { sessionEventsArchived } from '../db/archive-catalogue.js';
import type { Db } from '../db/client.js';
import { ApiError } from './errors.js';

export async function refuseArchived(db: Db, sessionCreatedAt: Date): Promise<void> {
  const archived = await sessionEventsArchived(db, sessionCreatedAt);
  if (!archived) return;
  const how =
    archived.state === 'expired'
      ? `its cold copy expired at ${archived.expiredAt?.toISOString() ?? '?'} under the tenant's retention class`
      : `an operator restores it with \`npm run kortix -- archive restore ${archived.month}\``;
  throw new ApiError(410, 'archived', `the events of sessions started in ${archived.month} are in cold storage (${archived.state}); ${how}`);
}

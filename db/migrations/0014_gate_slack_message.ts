import { sql, type Kysely } from 'kysely';

/**
 * Where a gate's Slack message went gets a column of its own. `slack_channel` held the policy's channel
 * (`#approvals`) until the message was posted and Slack's channel id (`C0…`) after, so the gate read back from
 * its row (GET /v1/sessions/:id answers from it) said another channel than the gate itself. Rows posted
 * before keep Slack's id in `slack_channel` and get it here too.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table gates add column slack_message_channel text`.execute(db);
  await sql`update gates set slack_message_channel = slack_channel where slack_ts is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table gates drop column slack_message_channel`.execute(db);
}

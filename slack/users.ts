/**
 * Who a Slack user is in Kortix: a YAML file (SLACK_USERS_FILE) mapping
 * Slack user ids to a tenant, a principal and roles.
 *
 *   users:
 *     U024BE7LH: { tenant: demo, principal: bob, roles: [admin] }
 */
import { z } from 'zod';
import { loadYamlFile } from '../config/yaml.js';

const userSchema = z
  .object({
    tenant: z.string().min(1),
    principal: z.string().min(1),
    roles: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)).default([]),
  })
  .strict();

export const slackUsersSchema = z
  .object({ users: z.record(z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id (U... or W...)'), userSchema).default({}) })
  .strict();

export type SlackUser = z.infer<typeof userSchema>;

export class SlackUserMap {
  constructor(private readonly users: Readonly<Record<string, SlackUser>>) {}

  static load(file: string | undefined): SlackUserMap {
    return new SlackUserMap(file ? loadYamlFile(file, slackUsersSchema).users : {});
  }

  get(slackUserId: string): SlackUser | undefined {
    return Object.hasOwn(this.users, slackUserId) ? this.users[slackUserId] : undefined;
  }
}

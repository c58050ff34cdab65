/**
 * The policy file format (YAML, validated here). A policy says per tool and
 * per argument pattern whether a call is allowed, denied, or waits on an
 * approval gate, and sets the agent's limits. Workflow code imports only the
 * types of this file.
 */
import { z } from 'zod';
import { parseDurationMs } from '../domain/duration.js';
import { unsafeRegexReason } from './regex-safety.js';
import { SHELL_CLASSES } from './shell-parse.js';
import { HOST_PATTERN_HINT, parseHostPattern } from './host-patterns.js';
import { BROWSER_ACTIONS } from './browser-url.js';

/** The tools a session can offer the model. */
export const TOOL_NAMES = ['shell', 'write_file', 'read_file', 'list_files', 'browser'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];
/**
 * What a policy without `tools` offers: not the browser, which a policy offers by naming it
 * (and policies written before it existed resolve, and hash, as they did).
 */
export const DEFAULT_TOOL_NAMES: readonly ToolName[] = ['shell', 'write_file', 'read_file', 'list_files'];

const MAX_PATTERN_LENGTH = 512;

/**
 * Patterns run inside the workflow on model-chosen input, so a pattern that
 * can backtrack catastrophically is refused at load (see regex-safety.ts).
 */
export function regexProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) return `longer than ${MAX_PATTERN_LENGTH} characters`;
  try {
    new RegExp(pattern);
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  return unsafeRegexReason(pattern);
}

const boundedRegex = z.string().min(1).superRefine((pattern, ctx) => {
  const problem = regexProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: `regex ${problem}` });
});

const duration = z
  .union([z.string(), z.number().nonnegative()])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? v * 1000 : parseDurationMs(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a duration like 90s, 30m, 2h or a number of seconds' });
      return z.NEVER;
    }
    return ms;
  });

const principalName = z.string().min(1).max(200);
const roleName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a role name (lowercase)');

const slackTarget = z
  .object({ channel: z.string().regex(/^[#A-Za-z0-9_-]{1,80}$/, 'a Slack channel name or id') })
  .strict();

/** Approval settings as written in a rule: every field optional, none defaulted (the policy's apply). */
const ruleApprovalSchema = z
  .object({
    /** Distinct approvers needed, never the requester. */
    approvers: z.number().int().min(1).max(10),
    /**
     * Roles the approvers must hold, one distinct approver per entry:
     * `[admin, security]` needs an admin and a security approver (two people).
     * The gate needs max(approvers, roles.length) approvers in all.
     */
    roles: z.array(roleName).max(10),
    /** Principals who may never decide these gates (the requester never may, always). */
    excludedApprovers: z.array(principalName).max(100),
    timeout: duration,
    onTimeout: z.enum(['deny', 'fail']),
    /** Post each gate to this Slack channel with Approve and Reject buttons. */
    slack: slackTarget,
  })
  .partial()
  .strict();

/** The policy's approval defaults. */
const approvalSchema = z
  .object({
    approvers: z.number().int().min(1).max(10).default(2),
    roles: z.array(roleName).max(10).default([]),
    excludedApprovers: z.array(principalName).max(100).default([]),
    timeout: duration.default(30 * 60 * 1000),
    onTimeout: z.enum(['deny', 'fail']).default('deny'),
    slack: slackTarget.optional(),
  })
  .strict();

/** A `network.approve` entry: the proxy's own pattern syntax, checked here so a bad one fails at load. */
const hostPattern = z.string().refine((p) => parseHostPattern(p) !== undefined, { message: HOST_PATTERN_HINT });

const ruleSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/).optional(),
    tool: z.union([z.enum(TOOL_NAMES), z.literal('*')]),
    match: z
      .object({
        /**
         * shell: a regex searched in the command as written and (with `shellParse`)
         * in each simple command of its parse, words unquoted (`r""m -rf` is `rm -rf`).
         */
        command: boundedRegex.optional(),
        /** shell: the command falls in one of these classes (see shell-parse.ts). */
        shellClass: z.array(z.enum(SHELL_CLASSES)).min(1).optional(),
        /** file tools: a glob matched against the workspace-relative path. */
        path: z.string().min(1).max(MAX_PATTERN_LENGTH).optional(),
        /** write_file: content larger than this many bytes. */
        minBytes: z.number().int().nonnegative().optional(),
        /**
         * shell: a glob matched against every host named in the command (URLs, user@host:).
         * browser: against the host the action works on (a goto's URL, else the page's).
         */
        host: z.string().regex(/^[a-z0-9.*?-]+$/i, 'a host glob like *.example.com').optional(),
        /** browser: the action is one of these (goto, click, type, ...). */
        browserAction: z.array(z.enum(BROWSER_ACTIONS)).min(1).optional(),
      })
      .strict()
      .optional(),
    action: z.enum(['allow', 'deny', 'approve']),
    risk: z.enum(['low', 'medium', 'high']).default('low'),
    reason: z.string().max(500).optional(),
    /** Overrides the policy's approval defaults for this rule. */
    approval: ruleApprovalSchema.optional(),
  })
  .strict();

export const policySchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase name'),
    /** The template this policy builds on (resolved at load; see load.ts). */
    extends: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/).optional(),
    description: z.string().optional(),
    limits: z
      .object({
        maxSteps: z.number().int().min(1).max(10_000).default(25),
        maxCostUsd: z.number().nonnegative().default(5),
      })
      .strict()
      .default({ maxSteps: 25, maxCostUsd: 5 }),
    /** Tools offered to the model; a call to any other is refused. */
    tools: z.array(z.enum(TOOL_NAMES)).min(1).default([...DEFAULT_TOOL_NAMES]),
    approval: approvalSchema.default({ approvers: 2, roles: [], excludedApprovers: [], timeout: 30 * 60 * 1000, onTimeout: 'deny' }),
    network: z
      .object({
        allow: z.array(z.string().regex(/^[a-z0-9.*-]+(:\d+)?$/i, 'a host name')).default([]),
        /**
         * Hosts the sandbox may reach once approved, per host: the proxy refuses them until the
         * agent's `request_network` call passes a gate (with `approval`'s settings over the
         * policy's). No default, so policies without it resolve (and hash) as before.
         */
        approve: z.array(hostPattern).max(100).optional(),
        approval: ruleApprovalSchema.optional(),
        /** Risk shown on request_network gates. */
        risk: z.enum(['low', 'medium', 'high']).optional(),
      })
      .strict()
      .default({ allow: [] }),
    /**
     * Match `command` and `host` on the parse as well as the raw text. `false`
     * keeps the raw text only: what snapshots pinned before this field existed
     * do (they lack it), so recorded sessions replay with the decisions they made.
     */
    shellParse: z.boolean().default(true),
    /** First match wins; `default` applies when none matches. */
    rules: z.array(ruleSchema).default([]),
    default: z.enum(['allow', 'deny', 'approve']).default('deny'),
  })
  .strict();

/** A policy as validated: durations in milliseconds, defaults filled in. */
export type Policy = z.infer<typeof policySchema>;
export type PolicyRule = Policy['rules'][number];

/**
 * What an agent version holds (its content, hashed to name it) and the
 * template file format. Shared by the template loader and the API, so a
 * template and a saved version are checked by the same rules.
 */
import { z } from 'zod';
import { textProblem } from '../db/storable.js';
import { referenceName, secretReferenceSchema } from '../domain/secret-binding.js';
import { TOOL_NAMES } from '../policies/schema.js';
import { TIERS } from '../router/model-policy.js';

/** A session's limits as a request or an agent version sets them: each only tightens the policy's. */
export const sessionLimitsSchema = z
  .object({
    maxSteps: z.number().int().min(1).max(10_000).optional(),
    maxCostUsd: z.number().nonnegative().max(10_000).optional(),
    approvalTimeoutSeconds: z.number().int().min(1).max(7 * 86_400).optional(),
  })
  .strict();

/** Prompts are instructions, not documents: a 200 KB one is a mistake (400 naming the field). */
export const MAX_PROMPT_CHARS = 64_000;

/** A string stored as written: NUL and unpaired surrogates are refused at their path. */
function storable(): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    const problem = textProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

export const SLUG_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const agentSlug = z.string().regex(SLUG_PATTERN, 'lowercase letters, digits, _ and -');
const policyName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a policy name').max(63);
/** Labels must not read as a version number (`v3`) or a sha prefix, so a reference names one thing. */
export const labelName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a label: lowercase letters, digits, _ and -, starting with a letter')
  .refine((l) => !/^v\d+$/.test(l) && !/^[0-9a-f]{6,}$/.test(l), 'a label cannot look like a version number (v3) or a sha prefix');

const uniqueList = <T extends z.ZodType>(item: T, max: number) =>
  z
    .array(item)
    .max(max)
    .refine((list) => new Set(list).size === list.length, 'duplicate entries');

/** The content of a version: everything that changes what a session does. */
export const agentSpecSchema = z
  .object({
    systemPrompt: storable().min(1).max(MAX_PROMPT_CHARS),
    /** A model of the model policy, or a request type (and tier) the router maps to one. */
    model: z.string().min(1).max(100).optional(),
    requestType: z.string().regex(SLUG_PATTERN, 'a request type').optional(),
    tier: z.enum(TIERS).optional(),
    /** Tools offered to the model; the policy's tools bound them (a tool the policy lacks is never offered). */
    tools: uniqueList(z.enum(TOOL_NAMES), TOOL_NAMES.length),
    limits: sessionLimitsSchema.default({}),
    /** A policy template or tenant policy name; `policyVersion` pins one version of it (sha256 hex). */
    policy: policyName,
    policyVersion: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 (64 hex digits)').optional(),
    /** Hosts the sandbox may reach; it replaces the policy's `network.allow` (empty: no network). */
    network: z
      .object({ allow: uniqueList(z.string().regex(/^[a-z0-9.*-]+(:\d+)?$/i, 'a host name'), 50) })
      .strict()
      .default({ allow: [] }),
    /**
     * Secrets the agent may use, by name; values are never part of a version. A bare name can only be
     * mounted for one approved call; a binding (`{ name, hosts, inject }`) is injected by the egress
     * proxy into requests to its hosts (domain/secret-binding.ts).
     */
    secrets: z
      .array(secretReferenceSchema)
      .max(20)
      .refine((list) => new Set(list.map(referenceName)).size === list.length, 'duplicate secret names')
      .refine((list) => {
        const paths = list.flatMap((ref) => (typeof ref !== 'string' && ref.mount ? [ref.mount.path] : []));
        return new Set(paths).size === paths.length;
      }, 'two secrets mounted at the same path')
      .default([]),
    metadata: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'keys of letters, digits, _ . -'), storable().max(512))
      .refine((m) => Object.keys(m).length <= 32, 'at most 32 keys')
      .default({}),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.model !== undefined && spec.requestType !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['requestType'], message: 'give a model or a request type, not both' });
    }
    if (spec.tier !== undefined && spec.requestType === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tier'], message: 'a tier goes with a request type' });
    }
  });

export type AgentSpec = z.infer<typeof agentSpecSchema>;

/** A note saying why a version was saved. */
export const changeNote = storable().max(2_000);

/** A template file: the name (= file name), what it is for, and the content of version 1. */
export const agentTemplateSchema = z
  .object({
    name: agentSlug,
    title: z.string().min(1).max(100),
    description: z.string().min(1).max(1_000),
    spec: agentSpecSchema,
  })
  .strict();

export type AgentTemplate = z.infer<typeof agentTemplateSchema>;

/** What `agent` on POST /v1/sessions takes: a name (`reviewer`) or a version of a tenant agent (`reviewer@production`, `reviewer@v3`, `reviewer@<sha prefix>`). */
export const agentReference = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}(@[a-z0-9_-]{1,64})?$/, 'an agent name, or name@label, name@v3, name@<sha prefix>');

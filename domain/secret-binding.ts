/**
 * How an agent version or a tenant refers to a secret: by name, never by
 * value, with the hosts the egress proxy injects it into and how (a header
 * built from a format, or the password of a basic-auth pair), and/or the file
 * it may be mounted at (under /run/secrets) for one approved shell call. A
 * bare name binds nothing: its value is only masked in tool output.
 * Shared by agents/, api/, sandbox/ and the workflow's input types: bottom
 * layer, no Node APIs.
 */
import { z } from 'zod';
import { SECRET_NAME_PATTERN } from './secret-names.js';

export const secretName = z
  .string()
  .regex(SECRET_NAME_PATTERN, 'a secret name: a letter, then up to 63 letters, digits, _ - or .')
  .refine((n) => !n.includes('..'), 'a secret name cannot contain ..');

/** Where `{value}` goes in a header (`Bearer {value}`, `token {value}`). */
const headerFormat = z
  .string()
  .min(7)
  .max(200)
  .refine((f) => f.split('{value}').length === 2, 'must contain {value} exactly once')
  .refine((f) => !/[\r\n\0]/.test(f), 'no line breaks or NUL');

export const secretInjectSchema = z.union([
  z
    .object({
      header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'a header name'),
      format: headerFormat.default('Bearer {value}'),
    })
    .strict(),
  z
    .object({
      basicAuth: z
        .object({ username: z.string().min(1).max(200).refine((u) => !/[:\r\n\0]/.test(u), 'no colon, line break or NUL') })
        .strict(),
    })
    .strict(),
]);

/** Host patterns as network.allow writes them (`api.github.com`, `*.example.com`, `host:8443`). */
const boundHost = z.string().regex(/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?$/i, 'a host name, *.domain, optionally with :port');

export const secretBindingSchema = z
  .object({
    name: secretName,
    hosts: z.array(boundHost).min(1).max(20),
    inject: secretInjectSchema,
  })
  .strict();

export type SecretInject = z.infer<typeof secretInjectSchema>;
export type SecretBinding = z.infer<typeof secretBindingSchema>;

/** The tmpfs of every sandbox where secrets are mounted for one call (sandbox/container-spec.ts). */
export const SECRET_MOUNT_DIR = '/run/secrets';
/** One file name, so that writing it never goes through a folder a command could have replaced with a link. */
const MOUNT_FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

/** Why `path` cannot be a mount point, or undefined. */
export function mountPathProblem(path: string): string | undefined {
  if (/[\0\r\n]/.test(path)) return 'no NUL or line break';
  if (path.split('/').some((seg) => seg === '..' || seg === '.')) return 'no . or .. segments';
  if (!path.startsWith(`${SECRET_MOUNT_DIR}/`)) return `must be a file directly under ${SECRET_MOUNT_DIR}/`;
  const file = path.slice(SECRET_MOUNT_DIR.length + 1);
  if (!MOUNT_FILE.test(file)) return `must be ${SECRET_MOUNT_DIR}/<file>: one name of letters, digits, . _ - (no further folders)`;
  return undefined;
}

export const secretMountSchema = z
  .object({
    path: z
      .string()
      .max(200)
      .superRefine((p, ctx) => {
        const problem = mountPathProblem(p);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
  })
  .strict();
export type SecretMount = z.infer<typeof secretMountSchema>;

/**
 * An agent version's secret: bound to hosts (`hosts` + `inject`, injected by
 * the egress proxy), mountable (`mount`: written to that file for one approved
 * shell call that asks for it, removed right after), or both. One object
 * schema rather than a union of shapes: a bad field is reported at its path.
 */
export const agentSecretSchema = z
  .object({
    name: secretName,
    hosts: secretBindingSchema.shape.hosts.optional(),
    inject: secretInjectSchema.optional(),
    mount: secretMountSchema.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.hosts === undefined) !== (s.inject === undefined)) {
      ctx.addIssue({ code: 'custom', path: [s.hosts === undefined ? 'hosts' : 'inject'], message: 'hosts and inject go together' });
    }
    if (s.hosts === undefined && s.mount === undefined) ctx.addIssue({ code: 'custom', path: ['mount'], message: 'give hosts + inject, a mount, or both (or use the bare name)' });
  });
export type AgentSecret = z.infer<typeof agentSecretSchema>;

/** An entry of an agent version's `secrets`: a bare name (masked only), or a binding and/or mount. */
export const secretReferenceSchema = z.union([secretName, agentSecretSchema]);
export type SecretReference = z.infer<typeof secretReferenceSchema>;

/** What a session carries: every secret it may use, with its binding and mount when it has them. */
export interface SessionSecret {
  readonly name: string;
  readonly hosts?: readonly string[] | undefined;
  readonly inject?: SecretInject | undefined;
  readonly mount?: SecretMount | undefined;
}

export function referenceName(ref: SecretReference): string {
  return typeof ref === 'string' ? ref : ref.name;
}

/**
 * The session's secrets: the tenant's references, then the agent version's
 * (a version's entry replaces the tenant's of the same name). Sorted by name.
 */
export function mergeSecretReferences(tenant: readonly SecretReference[], version: readonly SecretReference[]): SessionSecret[] {
  const byName = new Map<string, SessionSecret>();
  for (const ref of [...tenant, ...version]) {
    if (typeof ref === 'string') {
      byName.set(ref, { name: ref });
      continue;
    }
    byName.set(ref.name, {
      name: ref.name,
      ...(ref.hosts && ref.inject ? { hosts: [...ref.hosts], inject: ref.inject } : {}),
      ...(ref.mount ? { mount: { path: ref.mount.path } } : {}),
    });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

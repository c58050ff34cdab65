/**
 * How an agent version or a tenant refers to a secret: by name, never by
 * value, with the hosts the egress proxy injects it into and how (a header
 * built from a format, or the password of a basic-auth pair). A bare name
 * binds no host: such a secret can only be mounted for one approved tool call.
 * Shared by agents/, api/, sandbox/ and the workflow's input types: bottom
 * layer, no Node APIs.
 */
import { z } from 'zod';

/**
 * A secret's name as the providers look it up (`<prefix>/<tenant>/<name>`):
 * letters, digits, `_`, `-` and `.`, starting with a letter; never `/` or `..`,
 * so a name cannot climb out of its tenant's folder in any provider.
 */
export const SECRET_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
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

/** An entry of an agent version's `secrets`: a bare name (mount only) or a binding. */
export const secretReferenceSchema = z.union([secretName, secretBindingSchema]);
export type SecretReference = z.infer<typeof secretReferenceSchema>;

/** What a session carries: every secret it may use, with its binding when it has one. */
export interface SessionSecret {
  readonly name: string;
  readonly hosts?: readonly string[] | undefined;
  readonly inject?: SecretInject | undefined;
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
    byName.set(referenceName(ref), typeof ref === 'string' ? { name: ref } : { name: ref.name, hosts: [...ref.hosts], inject: ref.inject });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * What the workflow bundle needs of secret bindings (domain/secret-binding.ts), without zod: the shape of a
 * secret's name (sandbox/tools.ts checks a model's mount arguments against it) and the secrets a session may
 * mount (workflows/session-tools.ts). Kept apart so that no workflow loads zod: every workflow gets its own
 * instance of each module it imports, and zod's schemas were half of a workflow's heap (bench/workflow-footprint.ts).
 */

/**
 * A secret's name as the providers look it up (`<prefix>/<tenant>/<name>`):
 * letters, digits, `_`, `-` and `.`, starting with a letter; never `/` or `..`,
 * so a name cannot climb out of its tenant's folder in any provider.
 */
export const SECRET_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** The secrets a session may mount, by name: the path of each that has a mount. */
export function mountableSecrets(secrets: readonly { readonly name: string; readonly mount?: { readonly path: string } | undefined }[] | undefined): Map<string, string> {
  return new Map((secrets ?? []).flatMap((s) => (s.mount ? [[s.name, s.mount.path] as const] : [])));
}

/**
 * A session's secrets as the sandbox activities use them: at claim, each must
 * exist (a missing one fails the session at once, naming it, instead of
 * retrying) and those bound to hosts go to the egress proxy; at each tool
 * call, every value is masked in the output before it is stored, streamed or
 * shown to the model (a server that echoes the injected header back, a value
 * mounted for one call).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { SessionRef } from '../domain/session.js';
import type { SessionSecret } from '../domain/secret-binding.js';
import type { SandboxSecrets } from '../sandbox/egress-broker.js';
import { SecretMasker } from '../secrets/mask.js';
import { SecretAccessError, SecretNotFoundError, type SecretProvider } from '../secrets/provider.js';
import type { ToolResultPayload } from './types.js';

/** The failure type of a secret that does not exist or cannot be read (never retried). */
export const SECRET_UNAVAILABLE = 'SecretUnavailable';

function unavailable(name: string, err: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: SECRET_UNAVAILABLE, message: `secret ${name}: ${(err as Error).message}`, nonRetryable: true });
}

/** Checks every secret of the session; returns the bound ones for the proxy (undefined: none). */
export async function secretsForClaim(provider: SecretProvider | undefined, session: SessionRef, secrets: readonly SessionSecret[] | undefined): Promise<SandboxSecrets | undefined> {
  if (!secrets || secrets.length === 0) return undefined;
  if (!provider) throw ApplicationFailure.create({ type: SECRET_UNAVAILABLE, message: 'the session has secrets but this worker has no secret provider', nonRetryable: true });
  for (const s of secrets) {
    let exists: boolean;
    try {
      exists = await provider.exists(session.tenantId, s.name);
    } catch (err) {
      if (err instanceof SecretAccessError || err instanceof SecretNotFoundError) throw unavailable(s.name, err);
      throw err;
    }
    if (!exists) throw unavailable(s.name, new Error(`no such secret for tenant ${session.tenantId} in the ${provider.kind} provider`));
  }
  const bound = secrets.flatMap((s) => (s.hosts && s.inject ? [{ name: s.name, hosts: [...s.hosts], inject: s.inject }] : []));
  return bound.length > 0 ? { tenantId: session.tenantId, secrets: bound } : undefined;
}

/** One value of the session's secrets; one that is gone or refused fails the call for good (no retry brings it back). */
export async function secretValue(provider: SecretProvider | undefined, session: SessionRef, name: string): Promise<string> {
  if (!provider) throw ApplicationFailure.create({ type: SECRET_UNAVAILABLE, message: 'the session has secrets but this worker has no secret provider', nonRetryable: true });
  try {
    return (await provider.get(session.tenantId, name)).value;
  } catch (err) {
    if (err instanceof SecretAccessError || err instanceof SecretNotFoundError) throw unavailable(name, err);
    throw err;
  }
}

/** The masker of the session's values (an empty one without secrets). A value that cannot be read fails the call: its output could hold it. */
export async function sessionMasker(provider: SecretProvider | undefined, session: SessionRef, secrets: readonly SessionSecret[] | undefined): Promise<SecretMasker> {
  if (!secrets || secrets.length === 0 || !provider) return new SecretMasker([]);
  const values = [];
  for (const s of secrets) values.push({ name: s.name, value: await secretValue(provider, session, s.name) });
  return new SecretMasker(values);
}

/** Output fields that a cap can cut at their end (a value's start may be all that is left of it there). */
const CUT_FIELDS = new Set(['stdout', 'stderr', 'content']);
/** The kept tails of output beyond the cap (activities/artifact-tools.ts): cut at their start. */
const TAIL_FIELDS = new Set(['stdout_tail', 'stderr_tail']);

export function maskToolResult(masker: SecretMasker, result: ToolResultPayload): ToolResultPayload {
  if (masker.empty) return result;
  const masked: { ok: boolean; [field: string]: unknown } = { ...masker.maskValue(result, result.truncated === true ? CUT_FIELDS : new Set()) };
  // A tail begins where the cut was: the end of a value may be all that is left of it there.
  for (const field of TAIL_FIELDS) {
    const raw = result[field];
    if (typeof raw === 'string') masked[field] = masker.mask(raw, { start: true });
  }
  return masked;
}

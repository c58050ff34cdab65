/**
 * The secrets a new session may use: the tenant's references and the pinned
 * agent version's (domain/secret-binding.ts), each checked with the provider
 * before the session starts: a name that does not exist is a 400 naming it,
 * never a session that fails later (or a claim retried for ever).
 */
import { mergeSecretReferences, referenceName, type SecretReference, type SessionSecret } from '../domain/secret-binding.js';
import { secretProviderIfConfigured } from '../secrets/from-config.js';
import { SecretAccessError, SecretNotFoundError, type SecretProvider } from '../secrets/provider.js';
import { ApiError } from './errors.js';

/** The provider of an API whose configuration names one (every loaded Env does); undefined for partial test configs. */
export function apiSecretProvider(config: object): SecretProvider | undefined {
  return secretProviderIfConfigured(config);
}

/** Checks that each name exists for the tenant; `field` is where the names came from, for the 400. */
export async function checkSecretsExist(secrets: SecretProvider | undefined, tenantId: string, refs: readonly SecretReference[], field: string): Promise<void> {
  if (refs.length === 0) return;
  if (!secrets) throw new ApiError(503, 'secrets_unavailable', 'this API has no secret provider configured (SECRETS_PROVIDER)');
  for (const [i, ref] of refs.entries()) {
    const name = referenceName(ref);
    let exists: boolean;
    try {
      exists = await secrets.exists(tenantId, name);
    } catch (err) {
      if (err instanceof SecretAccessError || err instanceof SecretNotFoundError) {
        throw new ApiError(400, 'secret_unreadable', `secret ${name}: ${err.message}`, [{ path: `${field}[${i}]`, message: 'the provider refused it' }]);
      }
      throw new ApiError(503, 'secrets_unavailable', `the secret provider (${secrets.kind}) did not answer: ${(err as Error).message}`);
    }
    if (!exists) {
      throw new ApiError(400, 'secret_not_found', `no secret ${name} for this tenant in the ${secrets.kind} provider`, [{ path: `${field}[${i}]`, message: 'no such secret' }]);
    }
  }
}

/**
 * The session's secrets (tenant's, then the version's), every one checked to exist. `tenantRefsRead`: the
 * tenant's references, already asked for (POST /v1/sessions reads them beside its other lookups).
 */
export async function sessionSecrets(
  deps: { secrets?: SecretProvider | undefined },
  tenantId: string,
  versionRefs: readonly SecretReference[],
  tenantRefsRead: Promise<SecretReference[]>,
): Promise<SessionSecret[]> {
  const tenantRefs = await tenantRefsRead;
  await checkSecretsExist(deps.secrets, tenantId, tenantRefs, 'tenant.secrets');
  await checkSecretsExist(deps.secrets, tenantId, versionRefs, 'body.agent.spec.secrets');
  return mergeSecretReferences(tenantRefs, versionRefs);
}

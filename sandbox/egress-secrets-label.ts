/**
 * The label that carries a sandbox's bound secrets (tenant, names, hosts and
 * how to inject; never values), written at create and read back by the
 * egress proxy, so a restarted worker brokers for the sandboxes it has.
 */
import { z } from 'zod';
import { secretBindingSchema } from '../domain/secret-binding.js';
import type { SandboxSecrets } from './egress-broker.js';

const labelSchema = z.object({ tenant: z.string().min(1), secrets: z.array(secretBindingSchema) }).strict();

export function secretsLabel(secrets: SandboxSecrets): string {
  return JSON.stringify({ tenant: secrets.tenantId, secrets: secrets.secrets });
}

/** The label's secrets; undefined when there is no label. A label that does not parse brokers nothing (throws: the container is skipped). */
export function parseSecretsLabel(text: string | undefined): SandboxSecrets | undefined {
  if (text === undefined || text === '') return undefined;
  const parsed = labelSchema.parse(JSON.parse(text));
  return { tenantId: parsed.tenant, secrets: parsed.secrets };
}

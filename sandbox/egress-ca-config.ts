/** The egress CA and the upstream CAs as the configuration names them (SANDBOX_EGRESS_CA_DIR, SANDBOX_EGRESS_UPSTREAM_CA_FILE). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Env } from '../config/index.js';
import { EgressCa } from './egress-ca.js';

/** The CA, loaded (or made) once, on first use: a host that never brokers a secret never pays for it. */
export function egressCaFromConfig(config: Pick<Env, 'KORTIX_DATA_DIR' | 'SANDBOX_EGRESS_CA_DIR'>): () => EgressCa {
  const dir = config.SANDBOX_EGRESS_CA_DIR ?? resolve(config.KORTIX_DATA_DIR, 'egress-ca');
  let ca: EgressCa | undefined;
  return () => (ca ??= EgressCa.loadOrCreate(dir));
}

/** The PEM certificates of SANDBOX_EGRESS_UPSTREAM_CA_FILE; a file that is missing or holds none stops startup. */
export function upstreamCaFromConfig(config: Pick<Env, 'SANDBOX_EGRESS_UPSTREAM_CA_FILE'>): string[] | undefined {
  const file = config.SANDBOX_EGRESS_UPSTREAM_CA_FILE;
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`SANDBOX_EGRESS_UPSTREAM_CA_FILE: cannot read ${file}: ${(err as Error).message}`);
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`SANDBOX_EGRESS_UPSTREAM_CA_FILE: ${file} holds no PEM certificate`);
  return pems;
}

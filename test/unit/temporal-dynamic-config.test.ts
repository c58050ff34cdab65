/**
 * The dev server and the cluster run with the same dispatch settings
 * (temporal/dev-server.ts DEV_DYNAMIC_CONFIG, temporal/cluster/server/dynamicconfig/cluster.yaml),
 * so the throughput bench's dev / cluster comparison measures the servers, not their settings.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEV_DYNAMIC_CONFIG } from '../../temporal/dev-server.js';

const clusterYaml = new URL('../../temporal/cluster/server/dynamicconfig/cluster.yaml', import.meta.url);

/** `key=value` as the CLI's `--dynamic-config-value` takes it (the value is YAML: `true`, `1`). */
function devSettings(): Map<string, unknown> {
  return new Map(
    DEV_DYNAMIC_CONFIG.map((setting) => {
      const eq = setting.indexOf('=');
      expect(eq, setting).toBeGreaterThan(0);
      return [setting.slice(0, eq), parse(setting.slice(eq + 1)) as unknown];
    }),
  );
}

function clusterSettings(): Map<string, unknown> {
  const doc = parse(readFileSync(clusterYaml, 'utf8')) as Record<string, Array<{ value: unknown; constraints?: unknown }>>;
  // Only unconstrained values: a namespace- or queue-scoped one would not be the same setting.
  return new Map(Object.entries(doc).map(([key, values]) => [key, values.find((v) => v.constraints === undefined)?.value]));
}

describe('Temporal dynamic config', () => {
  it('every dev server setting is the cluster’s too, with the same value', () => {
    const cluster = clusterSettings();
    for (const [key, value] of devSettings()) expect(cluster.get(key), key).toEqual(value);
  });

  it('reads the transfer queue when notified: well above the default 20 reads a second per shard', () => {
    // At 20 a shard's reader waits for a token once dispatches pass 20 a second, up to 50 ms per
    // workflow or activity task (README, Numbers: one session's step overhead 128 → 50 ms).
    for (const settings of [devSettings(), clusterSettings()]) {
      expect(settings.get('history.transferProcessorMaxPollRPS')).toBeGreaterThanOrEqual(200);
    }
  });
});

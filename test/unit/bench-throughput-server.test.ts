/**
 * `--servers` of the throughput bench (bench/throughput-server.ts): which
 * Temporal each variant runs on, and the dev-server-only variants refused on
 * the cluster instead of measured without their settings.
 */
import { describe, expect, it } from 'vitest';
import { parseServers, throughputRuns } from '../../bench/throughput-server.js';
import { throughputVariant } from '../../bench/throughput-variants.js';
import { DEV_DYNAMIC_CONFIG } from '../../temporal/dev-server.js';

describe('parseServers', () => {
  it('is the dev server alone when absent', () => {
    expect(parseServers(undefined)).toEqual(['dev']);
  });

  it('keeps the order given, each server once', () => {
    expect(parseServers('cluster,dev,cluster')).toEqual(['cluster', 'dev']);
  });

  it('refuses a server it does not know', () => {
    expect(() => parseServers('dev,postgres')).toThrow(/no server "postgres"/);
    expect(() => parseServers('')).toThrow(/no server ""/);
  });
});

describe('throughputRuns', () => {
  it('runs each variant on each server, a variant’s servers back to back, labelled by server', () => {
    const runs = throughputRuns(['default', 'pool64+cache100'].map(throughputVariant), ['dev', 'cluster']);
    expect(runs.map((r) => [r.label, r.server, r.variant.label])).toEqual([
      ['default', 'dev', 'default'],
      ['default@cluster', 'cluster', 'default'],
      ['pool64+cache100', 'dev', 'pool64+cache100'],
      ['pool64+cache100@cluster', 'cluster', 'pool64+cache100'],
    ]);
    expect(runs[3]?.variant.env).toEqual({ SANDBOX_POOL_MAX_TOTAL: '64', WORKER_MAX_CACHED_WORKFLOWS: '100' });
    expect(throughputVariant('pool200+arena2').env).toEqual({ SANDBOX_POOL_MAX_TOTAL: '200', MALLOC_ARENA_MAX: '2' });
    expect(throughputVariant('local+wft200').env).toEqual({ SESSION_LOCAL_MODEL_CALLS: 'true', WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '200' });
    expect(throughputVariant('evict300').env).toEqual({ SANDBOX_POOL_EVICT_IDLE: '300ms' });
    expect(throughputVariant('pool200+health30').env).toEqual({ SANDBOX_POOL_MAX_TOTAL: '200', SANDBOX_ENGINE_HEALTHCHECK_INTERVAL: '30s' });
    expect(() => throughputVariant('arena')).toThrow(/no variant arena \(.*jemalloc, split, .*arenaN, wftN, actN, evictN, growN, semiN, healthN, pollrpsN, ackN, stuckN, gogcN\)/);
    expect(throughputVariant('stuck0').dynamicConfig).toEqual(expect.arrayContaining(['history.queueReaderStuckCriticalAttempts=0', 'history.transferProcessorMaxPollRPS=1000']));
    expect(throughputVariant('pool200+sacache').dynamicConfig).toEqual(expect.arrayContaining(['system.forceSearchAttributesCacheRefreshOnRead=false', 'history.transferProcessorMaxPollRPS=1000']));
    expect(throughputVariant('ack2').dynamicConfig).toEqual(expect.arrayContaining(['history.transferProcessorUpdateAckInterval=2', 'system.enableActivityEagerExecution=true']));
    expect(throughputVariant('pool200+gogc400')).toEqual({ label: 'pool200+gogc400', env: { SANDBOX_POOL_MAX_TOTAL: '200' }, serverEnv: { GOGC: '400' } });
    expect(throughputVariant('gogc400+split').serverEnv).toEqual({ GOGC: '400' });
    expect(throughputVariant('pool64').serverEnv).toBeUndefined();
    expect(throughputVariant('pool64+grow0').env).toEqual({ SANDBOX_POOL_MAX_TOTAL: '64', WORKER_HEAP_GROWING_PERCENT: '0' });
    // The roles apart, joined with others in either order; node's semi-space flag for the worker process.
    expect(throughputVariant('pool64+split+semi4')).toEqual({ label: 'pool64+split+semi4', env: { SANDBOX_POOL_MAX_TOTAL: '64', NODE_OPTIONS: '--max-semi-space-size=4' }, splitRoles: true });
    expect(throughputVariant('split+pool64').splitRoles).toBe(true);
    // node's options of two variants add up; the preload is the file beside the bench.
    expect(throughputVariant('semi4+notimeout').env?.NODE_OPTIONS).toMatch(/^--max-semi-space-size=4 --require \S+\/bench\/no-isolate-timeout\.cjs$/);
    expect(throughputVariant('pool64+cache130').splitRoles).toBeUndefined();
  });

  it('refuses dev-server settings on the cluster, takes them on the dev server', () => {
    expect(() => throughputRuns([throughputVariant('noeager')], ['dev', 'cluster'])).toThrow(/noeager sets dynamicConfig/);
    expect(() => throughputRuns([throughputVariant('rollback')], ['cluster'])).toThrow(/rollback sets sqlitePragmas/);
    expect(throughputRuns([throughputVariant('noeager'), throughputVariant('rollback')], ['dev']).map((r) => r.label)).toEqual(['noeager', 'rollback']);
    expect(() => throughputRuns([throughputVariant('pollrps20')], ['cluster'])).toThrow(/pollrps20 sets dynamicConfig/);
    expect(() => throughputRuns([throughputVariant('pool64+gogc400')], ['cluster'])).toThrow(/pool64\+gogc400 sets serverEnv/);
  });

  it('pollrpsN sets the transfer queue reads per second, keeping the rest of the dev server defaults', () => {
    const config = throughputVariant('pool64+pollrps20').dynamicConfig ?? [];
    expect(config).toContain('history.transferProcessorMaxPollRPS=20');
    expect(config.filter((v) => v.startsWith('history.transferProcessorMaxPollRPS='))).toHaveLength(1);
    expect(config).toEqual(expect.arrayContaining(DEV_DYNAMIC_CONFIG.filter((v) => !v.startsWith('history.transferProcessorMaxPollRPS='))));
    expect(throughputVariant('pool64+pollrps20').env).toEqual({ SANDBOX_POOL_MAX_TOTAL: '64' });
    // Joined, two variants' changes of the dynamic config both hold; the rest stays the dev server's.
    const both = throughputVariant('noeager+pollrps20').dynamicConfig ?? [];
    expect([...both].sort()).toEqual(
      [...DEV_DYNAMIC_CONFIG.filter((v) => !/^(system\.enableActivityEagerExecution|history\.transferProcessorMaxPollRPS)=/.test(v)), 'history.transferProcessorMaxPollRPS=20'].sort(),
    );
    expect(throughputVariant('pollrps20+noeager').dynamicConfig).toEqual(expect.arrayContaining(['history.transferProcessorMaxPollRPS=20']));
    expect(throughputVariant('pollrps20+noeager').dynamicConfig).not.toEqual(expect.arrayContaining(['system.enableActivityEagerExecution=true']));
    expect(() => throughputVariant('pollrps20+pollrps50')).toThrow(/pollrps20\+pollrps50 sets history\.transferProcessorMaxPollRPS twice/);
    expect(throughputVariant('pool64+semi4').dynamicConfig).toBeUndefined();
  });
});

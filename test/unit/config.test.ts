/**
 * Configuration from the environment (defaults, errors naming each bad
 * variable, secrets that never print, a frozen result) and YAML files
 * validated with their line numbers.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig, REPO_ROOT, requireDatabaseUrl, Secret } from '../../config/index.js';
import { parseYaml, YamlFileError } from '../../config/yaml.js';

/** The ConfigError that loading `env` throws (fails the test if none). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(Object.keys(env))} to be refused`);
}

describe('loadConfig', () => {
  it('fills in defaults from an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      KORTIX_ENV: 'dev',
      API_PORT: 8000,
      TASK_QUEUE_PREFIX: 'kortix',
      WORKER_ROLES: ['sessions', 'sandbox'],
      METRICS_ENABLED: true,
      DEFAULT_POLICY: 'standard',
      POLICIES_DIR: `${REPO_ROOT}/policies`,
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.OPENAI_API_KEY).toBeUndefined();
  });

  it('coerces numbers, flags and lists', () => {
    const config = loadConfig({ API_PORT: '9000', METRICS_ENABLED: 'no', WORKER_ROLES: ' sandbox , ', SANDBOX_CPUS: '0.5' });
    expect(config.API_PORT).toBe(9000);
    expect(config.METRICS_ENABLED).toBe(false);
    expect(config.WORKER_ROLES).toEqual(['sandbox']);
    expect(config.SANDBOX_CPUS).toBe(0.5);
  });

  it('reads the maintenance interval as a duration, 0 turning the schedule off', () => {
    expect(loadConfig({}).MAINTENANCE_INTERVAL).toBe(3_600_000);
    expect(loadConfig({ MAINTENANCE_INTERVAL: '30m' }).MAINTENANCE_INTERVAL).toBe(1_800_000);
    expect(loadConfig({ MAINTENANCE_INTERVAL: '0' }).MAINTENANCE_INTERVAL).toBe(0);
    expect(loadConfig({ LLM_CALLS_RETENTION_MONTHS: '13' }).LLM_CALLS_RETENTION_MONTHS).toBe(13);
  });

  it('parks sandboxes of sessions waiting on people after 5 minutes by default, never with 0', () => {
    expect(loadConfig({}).SESSION_SANDBOX_PARK_AFTER).toBe(300_000);
    expect(loadConfig({ SESSION_SANDBOX_PARK_AFTER: '90s' }).SESSION_SANDBOX_PARK_AFTER).toBe(90_000);
    expect(loadConfig({ SESSION_SANDBOX_PARK_AFTER: '0' }).SESSION_SANDBOX_PARK_AFTER).toBe(0);
    // Parking for a waiting claim between steps: off unless set.
    expect(loadConfig({}).SANDBOX_POOL_EVICT_IDLE).toBe(0);
    expect(loadConfig({ SANDBOX_POOL_EVICT_IDLE: '500ms' }).SANDBOX_POOL_EVICT_IDLE).toBe(500);
  });

  it("runs the engine's health check in each sandbox every 5 minutes by default, never with 0", () => {
    expect(loadConfig({}).SANDBOX_ENGINE_HEALTHCHECK_INTERVAL).toBe(300_000);
    expect(loadConfig({ SANDBOX_ENGINE_HEALTHCHECK_INTERVAL: '30s' }).SANDBOX_ENGINE_HEALTHCHECK_INTERVAL).toBe(30_000);
    expect(loadConfig({ SANDBOX_ENGINE_HEALTHCHECK_INTERVAL: '0' }).SANDBOX_ENGINE_HEALTHCHECK_INTERVAL).toBe(0);
  });

  it('tries a session workflow start for 10 minutes by default', () => {
    expect(loadConfig({}).SESSION_START_DEADLINE).toBe(600_000);
    expect(loadConfig({ SESSION_START_DEADLINE: '2m' }).SESSION_START_DEADLINE).toBe(120_000);
  });

  it('collects a worker\'s heap at 1.2 × what is live by default, at V8\'s own pace with 0', () => {
    expect(loadConfig({}).WORKER_HEAP_GROWING_PERCENT).toBe(20);
    expect(loadConfig({ WORKER_HEAP_GROWING_PERCENT: '0' }).WORKER_HEAP_GROWING_PERCENT).toBe(0);
  });

  it('keeps workflow stack traces, formatted when read, unless told otherwise; the old true and false still read', () => {
    const mode = (value?: string) => loadConfig(value === undefined ? {} : { WORKER_WORKFLOW_STACK_TRACES: value }).WORKER_WORKFLOW_STACK_TRACES;
    expect(mode()).toBe('lazy');
    expect([mode('lazy'), mode('eager'), mode('off')]).toEqual(['lazy', 'eager', 'off']);
    expect([mode('true'), mode('1'), mode('yes')]).toEqual(['lazy', 'lazy', 'lazy']);
    expect([mode('false'), mode('0'), mode('no')]).toEqual(['off', 'off', 'off']);
  });

  it.each([
    ['API_PORT', 'abc'],
    ['API_PORT', '70000'],
    ['WORKER_ROLES', 'sessions,cooking'],
    ['TASK_QUEUE_PREFIX', 'Bad_Prefix'],
    ['DATABASE_URL', 'mysql://x'],
    ['METRICS_ENABLED', 'maybe'],
    ['TEMPORAL_UI_URL', 'not a url'],
    ['MAINTENANCE_INTERVAL', 'weekly'],
    ['LLM_CALLS_RETENTION_MONTHS', '-1'],
    // Activities heartbeat every 2 s: every claim, tool run and model call would time out.
    ['SESSION_HEARTBEAT_TIMEOUT', '1s'],
    ['SESSION_SANDBOX_PARK_AFTER', 'soon'],
    ['SANDBOX_POOL_EVICT_IDLE', '-1s'],
    ['SANDBOX_ENGINE_HEALTHCHECK_INTERVAL', 'hourly'],
    // An exec in every sandbox every second would keep the host busy with checks.
    ['SANDBOX_ENGINE_HEALTHCHECK_INTERVAL', '1s'],
    ['SESSION_START_DEADLINE', 'forever'],
    ['WORKER_HEAP_GROWING_PERCENT', '-5'],
    ['WORKER_HEAP_GROWING_PERCENT', '12.5'],
    ['WORKER_WORKFLOW_STACK_TRACES', 'sometimes'],
  ])('refuses %s=%s, naming the variable and the value', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(new RegExp(`^${name}(\\.\\d+)?: `));
    expect(error.problems[0]).toContain(`(got ${JSON.stringify(value)})`);
    expect(error.message).toContain(`  - ${error.problems[0]}`);
  });

  it('names every bad variable in one error', () => {
    const error = configError({ API_PORT: 'abc', WORKER_ROLES: 'sessions,cooking', TASK_QUEUE_PREFIX: 'Bad_Prefix', DATABASE_URL: 'mysql://x' });
    expect(error.message).toMatch(/^Invalid configuration:\n/);
    for (const name of ['API_PORT', 'WORKER_ROLES', 'TASK_QUEUE_PREFIX', 'DATABASE_URL']) expect(error.message).toContain(`  - ${name}`);
    expect(error.problems).toHaveLength(4);
  });

  it('keeps secrets out of errors, JSON and String(), and reveals them on request', () => {
    const key = 'sk-test-0123456789abcdef';
    const error = configError({ OPENAI_API_KEY: key, ANTHROPIC_API_KEY: key, API_PORT: 'abc' });
    expect(error.message).not.toContain(key);

    const config = loadConfig({ OPENAI_API_KEY: key });
    expect(config.OPENAI_API_KEY).toBeInstanceOf(Secret);
    expect(JSON.stringify(config)).not.toContain(key);
    expect(JSON.stringify(config)).toContain('"OPENAI_API_KEY":"[secret]"');
    expect(String(config.OPENAI_API_KEY)).toBe('[secret]');
    expect(`${config.OPENAI_API_KEY}`).not.toContain(key);
    expect(inspect(config)).not.toContain(key);
    expect(config.OPENAI_API_KEY?.reveal()).toBe(key);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({ API_PORT: '', OPENAI_API_KEY: '', DATABASE_URL: '', TASK_QUEUE_PREFIX: '' });
    expect(config.API_PORT).toBe(8000);
    expect(config.OPENAI_API_KEY).toBeUndefined();
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.TASK_QUEUE_PREFIX).toBe('kortix');
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { API_PORT: number }).API_PORT = 1;
    }).toThrow(TypeError);
    expect(config.API_PORT).toBe(8000);
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root' })).not.toHaveProperty('PATH');
  });
});

describe('requireDatabaseUrl', () => {
  it('returns DATABASE_URL or says how to set it', () => {
    expect(requireDatabaseUrl(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/db' }))).toBe('postgres://u@h:5432/db');
    // A data dir without make dev's file: nothing to fall back on.
    expect(() => requireDatabaseUrl(loadConfig({ KORTIX_DATA_DIR: '/nonexistent/kortix-data' }))).toThrow(/DATABASE_URL: required/);
  });

  it('falls back on the URL make dev wrote, in dev only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kortix-dev-'));
    writeFileSync(join(dir, 'dev-keys.env'), 'export KORTIX_TENANT=demo\nexport DATABASE_URL=postgres://postgres@127.0.0.1:54329/kortix\n');
    expect(requireDatabaseUrl(loadConfig({ KORTIX_DATA_DIR: dir }))).toBe('postgres://postgres@127.0.0.1:54329/kortix');
    expect(() => requireDatabaseUrl(loadConfig({ KORTIX_DATA_DIR: dir, KORTIX_ENV: 'prod', VOTE_SIGNING_KEY: 'v'.repeat(32), PAYLOAD_CODEC_RING: '/keys.json' }))).toThrow(/DATABASE_URL: required/);
  });
});

describe('parseYaml', () => {
  const schema = z.object({ a: z.number(), b: z.object({ c: z.string() }).optional() }).strict();

  it('returns the validated value', () => {
    expect(parseYaml('a: 1\nb:\n  c: x\n', schema, 'ok.yaml')).toEqual({ a: 1, b: { c: 'x' } });
  });

  it('reports a syntax error with its line', () => {
    expect(() => parseYaml('a: 1\nb: : 2\n', schema, 'syntax.yaml')).toThrow(/syntax\.yaml:2: /);
  });

  it('refuses duplicate keys with the line of the duplicate', () => {
    expect(() => parseYaml('a: 1\n# note\na: 2\n', schema, 'dup.yaml')).toThrow(/dup\.yaml:3: Map keys must be unique/);
  });

  it('reports a schema violation with the line and dotted path of the value', () => {
    try {
      parseYaml('a: 1\nb:\n  c: 42\n', schema, 'typed.yaml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(YamlFileError);
      const error = err as YamlFileError;
      expect(error.file).toBe('typed.yaml');
      expect(error.problems).toEqual([expect.objectContaining({ line: 3, path: 'b.c' })]);
      expect(error.message).toContain('typed.yaml:3: b.c: ');
    }
  });

  it('reports a missing key at the line of its parent', () => {
    expect(() => parseYaml('# header\n\nb:\n  c: x\n', schema, 'missing.yaml')).toThrow(/missing\.yaml:3: a: /);
  });
});

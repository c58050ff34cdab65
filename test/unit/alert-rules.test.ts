/**
 * The alerting rules and the Alertmanager config, checked by the real tools
 * (Debian's promtool and amtool, provisioned by scripts/provision/prometheus.sh):
 * the rules parse, their unit tests pass, each alert is tested firing and not
 * firing, a changed threshold makes those tests fail, and each alert reaches
 * the receivers its severity names, with secrets read from files.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../config/index.js';
import { provision } from '../../scripts/lib/provision.js';

const PROMETHEUS_DIR = resolve(REPO_ROOT, 'observability/prometheus');
const ALERTMANAGER_CONFIG = resolve(REPO_ROOT, 'observability/alertmanager/alertmanager.yml');

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
}
interface RuleTest {
  name: string;
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[];
}

const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => join(dir, f));
const ruleFiles = yamlFiles(join(PROMETHEUS_DIR, 'rules'));
const testFiles = yamlFiles(join(PROMETHEUS_DIR, 'tests'));
const alerts: AlertRule[] = ruleFiles.flatMap(
  (f) => (parse(readFileSync(f, 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules).filter((r) => r.alert),
);
const ruleTests: RuleTest[] = testFiles.flatMap((f) => (parse(readFileSync(f, 'utf8')) as { tests: RuleTest[] }).tests);

let promtool: string;
let amtool: string;
const scratch = mkdtempSync(join(tmpdir(), 'kortix-rules-'));

beforeAll(async () => {
  const tools = await provision('prometheus');
  promtool = tools.PROMTOOL_BIN as string;
  amtool = tools.AMTOOL_BIN as string;
}, 600_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(bin: string, args: string[], cwd = REPO_ROOT) {
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** `promtool test rules` on copies of the rules and their tests, with `edit` applied to the rules. */
function testRulesEditedWith(edit: (rules: string) => string) {
  const dir = mkdtempSync(join(scratch, 'mutant-'));
  cpSync(PROMETHEUS_DIR, dir, { recursive: true });
  for (const file of yamlFiles(join(dir, 'rules'))) {
    const before = readFileSync(file, 'utf8');
    const after = edit(before);
    writeFileSync(file, after);
    if (after !== before) return run(promtool, ['test', 'rules', ...yamlFiles(join(dir, 'tests'))], dir);
  }
  throw new Error('the edit changed no rules file');
}

describe('alerting rules', () => {
  it('are valid rules (promtool check rules)', () => {
    expect(ruleFiles.length).toBeGreaterThan(0);
    const r = run(promtool, ['check', 'rules', ...ruleFiles]);
    expect(r.output).toContain('SUCCESS');
    expect(r.code, r.output).toBe(0);
  });

  it('are loaded by the Prometheus config (promtool check config)', () => {
    const r = run(promtool, ['check', 'config', join(PROMETHEUS_DIR, 'prometheus.yml')]);
    expect(r.code, r.output).toBe(0);
    for (const file of ruleFiles) expect(r.output).toContain(`${file.slice(file.lastIndexOf('/rules/') + 1)}\n  SUCCESS`);
  });

  it('cover what the platform needs', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      ['KortixTargetDown', 'LlmLatencyP95High', 'SessionStartsStuck', 'TaskFailureRateHigh', 'TaskQueueBacklogHigh', 'TenantBudgetExhausted'].sort(),
    );
    const byName = Object.fromEntries(alerts.map((a) => [a.alert, a]));
    expect(byName.TaskQueueBacklogHigh).toMatchObject({ for: '5m' });
    expect(byName.TaskQueueBacklogHigh?.expr).toMatch(/queue_length\) > 50$/);
    expect(byName.TaskFailureRateHigh?.expr).toMatch(/failed_tasks_total\[10m\][\s\S]*tasks_total\[10m\][\s\S]*> 0\.10/);
    expect(byName.LlmLatencyP95High?.expr).toMatch(/^histogram_quantile\(0\.95, .*llm_latency_seconds_bucket\[10m\].*\) > 3$/);
    expect(byName.TenantBudgetExhausted?.expr).toMatch(/tenant_budget_remaining_usd\) <= 0$/);
    expect(byName.SessionStartsStuck).toMatchObject({ for: '3m', expr: 'max(max_over_time(session_start_oldest_pending_seconds[2m])) > 120' });
    for (const a of alerts) expect(['page', 'warning'], a.alert).toContain(a.labels.severity);
  });

  it('pass their unit tests (promtool test rules)', () => {
    expect(testFiles.length).toBeGreaterThan(0);
    const r = run(promtool, ['test', 'rules', ...testFiles]);
    expect(r.output, r.output).not.toContain('FAILED');
    expect(r.code, r.output).toBe(0);
  });

  it('are each tested both firing and not firing', () => {
    for (const { alert } of alerts) {
      const cases = ruleTests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === alert);
      expect(cases.some((c) => c.exp_alerts.length > 0), `${alert} fires in some test`).toBe(true);
      expect(cases.some((c) => c.exp_alerts.length === 0), `${alert} stays quiet in some test`).toBe(true);
    }
  });

  // If the rule tests passed whatever the rules said, they would prove nothing.
  it.each([
    ['the backlog threshold', (s: string) => s.replace('(queue_length) > 50', '(queue_length) > 70')],
    ['the backlog duration', (s: string) => s.replace(/(queue_length\) > 50\n\s+for: )5m/, '$12m')],
    ['the failure ratio', (s: string) => s.replace(') > 0.10', ') > 0.25')],
    ['the minimum number of tasks', (s: string) => s.replace('>= 10', '>= 1')],
    ['the latency threshold', (s: string) => s.replace('[10m]))) > 3', '[10m]))) > 5')],
    ['the budget condition', (s: string) => s.replace('(tenant_budget_remaining_usd) <= 0', '(tenant_budget_remaining_usd) < 0')],
    ['the target-down duration', (s: string) => s.replace(/(== 0\n\s+for: )5m/, '$110m')],
    ['the stuck-start age', (s: string) => s.replace('pending_seconds[2m])) > 120', 'pending_seconds[2m])) > 400')],
    ['the stuck-start duration', (s: string) => s.replace(/(pending_seconds\[2m\]\)\) > 120\n\s+for: )3m/, '$15m')],
    ['the stuck-start shorter duration', (s: string) => s.replace(/(pending_seconds\[2m\]\)\) > 120\n\s+for: )3m/, '$11m')],
    ['the stuck-start NaN bridge', (s: string) => s.replace('max(max_over_time(session_start_oldest_pending_seconds[2m]))', 'max(session_start_oldest_pending_seconds)')],
  ])('fail when %s changes', (_what, edit) => {
    const r = testRulesEditedWith(edit);
    expect(r.output).toContain('FAILED');
    expect(r.code).not.toBe(0);
  });
});

describe('alertmanager', () => {
  it('has a valid config (amtool check-config)', () => {
    const r = run(amtool, ['check-config', ALERTMANAGER_CONFIG]);
    expect(r.output).toContain('SUCCESS');
    expect(r.code, r.output).toBe(0);
  });

  it('sends pages to PagerDuty and Slack, warnings to Slack', () => {
    const receivers = (labels: Record<string, string>) => {
      const r = run(amtool, ['config', 'routes', 'test', `--config.file=${ALERTMANAGER_CONFIG}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
      expect(r.code, r.output).toBe(0);
      return r.output.split('\n').find((l) => /^[a-z,]+$/.test(l.trim()))?.trim().split(',').sort();
    };
    for (const a of alerts) {
      expect(receivers({ alertname: a.alert, ...a.labels }), a.alert).toEqual(a.labels.severity === 'page' ? ['pagerduty', 'slack'] : ['slack']);
    }
  });

  it('reads the Slack URL and the PagerDuty key from files, never inline', () => {
    const config = parse(readFileSync(ALERTMANAGER_CONFIG, 'utf8')) as {
      global?: Record<string, unknown>;
      receivers: { name: string; slack_configs?: Record<string, unknown>[]; pagerduty_configs?: Record<string, unknown>[] }[];
    };
    const slack = config.receivers.flatMap((r) => r.slack_configs ?? []);
    const pagerduty = config.receivers.flatMap((r) => r.pagerduty_configs ?? []);
    expect(slack.length).toBeGreaterThan(0);
    expect(pagerduty.length).toBeGreaterThan(0);
    for (const s of slack) {
      expect(s.api_url).toBeUndefined();
      expect(s.api_url_file).toMatch(/^\/run\/secrets\//);
    }
    for (const p of pagerduty) {
      expect(p.routing_key ?? p.service_key).toBeUndefined();
      expect(p.routing_key_file).toMatch(/^\/run\/secrets\//);
    }
    expect(config.global?.slack_api_url).toBeUndefined();
  });
});

/**
 * The provisioned Grafana dashboards and the alerting rules query only
 * metrics the code really exports: the registries the processes build
 * (createMetrics, the API's scrape-time collectors) and the Temporal SDK
 * series in SDK_METRIC_NAMES (which test/integration/prometheus.test.ts finds
 * on a real worker). The drawn thresholds are the alerts' thresholds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../config/index.js';
import { registerApiCollectors, reportedQueues } from '../../api/collectors.js';
import { createMetrics, SDK_METRIC_NAMES } from '../../observability/metrics.js';

const GRAFANA = resolve(REPO_ROOT, 'observability/grafana');
const RULES = resolve(REPO_ROOT, 'observability/prometheus/rules');

interface Target {
  refId: string;
  expr: string;
  datasource?: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: { defaults: { thresholds?: { steps: { color: string; value: number | null }[] } } };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
}

/** Every series name the code can export, with the _bucket/_sum/_count series of histograms and summaries. */
async function exportedSeries(): Promise<Set<string>> {
  const metrics = createMetrics({ service: 'test', defaultMetrics: true });
  const collectors = new Registry();
  registerApiCollectors(collectors, {
    sources: { activeSessions: async () => [], queueBacklog: async () => 0, pendingStarts: async () => ({ count: 0, oldestSeconds: 0 }) },
    queues: reportedQueues('kortix'),
  });
  const names = new Set<string>(Object.values(SDK_METRIC_NAMES));
  for (const registry of [metrics.registry, collectors]) {
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
      if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
    }
  }
  return names;
}

const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression selects (a tokenizer, enough for the queries we write). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges, [$__rate_interval]
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?\w+\}?/g, ' ') // Grafana variables
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?(ms|s|m|h|d|w|y)?\b/gi, ' '); // numbers and durations
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const rest = stripped.slice((m.index ?? 0) + m[0].length).trimStart();
    if (rest.startsWith('(') || NOT_METRICS.has(m[0].toLowerCase())) continue; // a function, an aggregation, a keyword
    names.push(m[0]);
  }
  return names;
}

function dashboards(): { file: string; dashboard: Dashboard }[] {
  const dir = join(GRAFANA, 'dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard }));
}

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const queryPanels = (d: Dashboard) => allPanels(d.panels).filter((p) => p.type !== 'row');

function alertExprs(): Record<string, string> {
  const exprs: Record<string, string> = {};
  for (const f of readdirSync(RULES).filter((f) => f.endsWith('.yml'))) {
    const doc = parse(readFileSync(join(RULES, f), 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
    for (const r of doc.groups.flatMap((g) => g.rules)) exprs[r.alert ?? r.record ?? '?'] = r.expr;
  }
  return exprs;
}

/** The number an alert compares against: `... > 50` gives 50. */
function alertThreshold(alert: string): number {
  const m = /[<>]=?\s*([\d.]+)\s*(?:\n|and|$)/.exec(alertExprs()[alert] ?? '');
  if (!m?.[1]) throw new Error(`no threshold in ${alert}`);
  return Number(m[1]);
}

function redLine(panel: Panel | undefined): number | null | undefined {
  return panel?.fieldConfig?.defaults.thresholds?.steps.find((s) => s.color === 'red')?.value;
}

describe('metricNames', () => {
  it('finds the selected metrics and nothing else', () => {
    expect(
      metricNames('histogram_quantile(0.95, sum by (le, model) (rate(llm_latency_seconds_bucket{model!="x"}[$__rate_interval]))) > 3'),
    ).toEqual(['llm_latency_seconds_bucket']);
    expect(metricNames('sum(rate(failed_tasks_total[10m])) by (kind) / on (kind) sum by (kind) (rate(tasks_total[1e3s] offset 5m)) * 100')).toEqual([
      'failed_tasks_total',
      'tasks_total',
    ]);
    expect(metricNames('max(agent_active_count) or vector(0)')).toEqual(['agent_active_count']);
  });

  it('lets an unknown metric through to be caught', async () => {
    const exported = await exportedSeries();
    const unknown = metricNames('sum(rate(http_requests_totals[5m])) + sum(queue_lenght)').filter((n) => !exported.has(n));
    expect(unknown).toEqual(['http_requests_totals', 'queue_lenght']);
  });
});

describe('grafana dashboards', () => {
  it('exist and are provisioned from the directory the provider reads', () => {
    expect(dashboards().length).toBeGreaterThan(0);
    const providers = parse(readFileSync(join(GRAFANA, 'provisioning/dashboards/dashboards.yml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(providers.providers.map((p) => [p.type, p.options.path])).toEqual([['file', '/var/lib/grafana/dashboards']]);
  });

  it('query only metrics the code exports, through the provisioned datasource', async () => {
    const exported = await exportedSeries();
    const datasources = parse(readFileSync(join(GRAFANA, 'provisioning/datasources/datasources.yml'), 'utf8')) as {
      datasources: { uid: string; type: string }[];
    };
    const prometheusUid = datasources.datasources.find((d) => d.type === 'prometheus')?.uid;
    expect(prometheusUid).toBeDefined();
    const problems: string[] = [];
    let queries = 0;
    for (const { file, dashboard } of dashboards()) {
      for (const panel of queryPanels(dashboard)) {
        if (panel.datasource?.uid !== prometheusUid) problems.push(`${file} "${panel.title}": datasource ${panel.datasource?.uid}`);
        if (!panel.targets?.length) problems.push(`${file} "${panel.title}": no query`);
        for (const target of panel.targets ?? []) {
          queries++;
          const names = metricNames(target.expr);
          if (names.length === 0) problems.push(`${file} "${panel.title}" ${target.refId}: names no metric`);
          for (const name of names) if (!exported.has(name)) problems.push(`${file} "${panel.title}" ${target.refId}: ${name} is not exported`);
        }
      }
    }
    expect(queries).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });

  it('have unique panel ids and titles', () => {
    for (const { dashboard } of dashboards()) {
      const panels = allPanels(dashboard.panels);
      expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
      expect(new Set(panels.map((p) => p.title)).size).toBe(panels.length);
    }
  });

  it('show what operators need, with the alert thresholds drawn', () => {
    const dashboard = dashboards().find((d) => d.dashboard.uid === 'kortix-overview')?.dashboard;
    expect(dashboard).toBeDefined();
    const panels = queryPanels(dashboard as Dashboard);
    const using = (metric: string) => panels.filter((p) => p.targets?.some((t) => metricNames(t.expr).includes(metric)));
    const first = (metric: string) => using(metric)[0];

    expect(first('agent_active_count')?.type).toBe('gauge');
    const queue = first('queue_length');
    expect(queue?.type).toBe('timeseries');
    expect(redLine(queue)).toBe(alertThreshold('TaskQueueBacklogHigh'));

    const latency = first('llm_latency_seconds_bucket');
    const exprs = latency?.targets?.map((t) => t.expr) ?? [];
    for (const q of ['0.50', '0.95', '0.99']) expect(exprs.some((e) => e.startsWith(`histogram_quantile(${q},`) && /by \(le, model\)/.test(e)), q).toBe(true);
    expect(redLine(latency)).toBe(alertThreshold('LlmLatencyP95High'));

    const failures = first('failed_tasks_total');
    expect(failures?.targets?.some((t) => metricNames(t.expr).includes('tasks_total'))).toBe(true);
    expect(redLine(failures)).toBe(alertThreshold('TaskFailureRateHigh'));

    expect(using('container_start_time_seconds_bucket')).not.toHaveLength(0);
    const cost = using('llm_cost_usd_total').flatMap((p) => p.targets?.map((t) => t.expr) ?? []);
    expect(cost.some((e) => /by \(tenant\)/.test(e))).toBe(true);
    expect(cost.some((e) => /by \(model\)/.test(e))).toBe(true);
    expect(using('sandbox_pool_in_use')).not.toHaveLength(0);
    expect(using('sandbox_pool_idle')).not.toHaveLength(0);
  });
});

describe('alerting rules', () => {
  it('select only metrics the code exports', async () => {
    const exported = await exportedSeries();
    const unknown = Object.entries(alertExprs()).flatMap(([alert, expr]) =>
      metricNames(expr)
        .filter((n) => n !== 'up' && !exported.has(n))
        .map((n) => `${alert}: ${n}`),
    );
    expect(Object.keys(alertExprs()).length).toBeGreaterThan(0);
    expect(unknown).toEqual([]);
  });
});

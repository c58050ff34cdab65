/**
 * The Kubernetes manifests (deploy/k8s/) against the upstream API types: the Go
 * checker (tools/k8s-check, built from k8s.io/api and KEDA's API module through
 * the Go module proxy) decodes every document strictly, so an unknown field or a
 * wrong type fails. A broken copy proves it does. Then what the issue asks of
 * the manifests' content: explicit queue types and backlog target on the KEDA
 * scaler, termination grace over the worker's shutdown grace, and the rest.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig, REPO_ROOT } from '../../config/index.js';

const run = promisify(execFile);
const K8S = resolve(REPO_ROOT, 'deploy/k8s');
const goMissing = (() => {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
})();
let checker: string;

async function check(dir: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(checker, [dir]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

// Manifests are read as plain data here; the Go checker above owns their types: only the fields the tests look at.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface DocSpec {
  triggers: { type: string; metadata: Record<string, string> }[];
  scaleTargetRef: { name: string };
  template: { spec: { terminationGracePeriodSeconds?: number; nodeSelector?: Record<string, string>; containers: { env: EnvVar[] }[] } };
  metrics: { type: string; pods?: { metric: { name: string } } }[];
}
type Doc = { kind: string; metadata: { name: string }; spec: DocSpec };
function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => d.toJS() as Doc);
}
const find = (file: string, kind: string, name?: string) => docs(file).find((d) => d.kind === kind && (!name || d.metadata.name === name)) as Doc;

describe.skipIf(goMissing)('deploy/k8s against the upstream API types (needs Go: it builds tools/k8s-check)', () => {
  beforeAll(async () => {
    checker = join(mkdtempSync(join(tmpdir(), 'k8s-check-')), 'k8s-check');
    // The Go build cache keeps later builds to seconds; the first one compiles k8s.io/api (minutes).
    await run('go', ['build', '-o', checker, '.'], { cwd: resolve(REPO_ROOT, 'tools/k8s-check'), env: { ...process.env, CGO_ENABLED: '0' } });
  }, 900_000);

  it('accepts every manifest of the base and the overlay', async () => {
    const { code, out } = await check(K8S);
    expect(out).toMatch(/\d+ documents checked in \d+ files, 0 failed/);
    expect(out).toContain('ok   deploy/k8s/base/sessions-worker.yaml#2 ScaledObject/kortix-sessions-worker'.replace('deploy/k8s', K8S));
    expect(code).toBe(0);
  });

  it('refuses an unknown field, a wrong type, and an unknown kind', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'k8s-broken-'));
    cpSync(join(K8S, 'base'), broken, { recursive: true });
    const api = readFileSync(join(broken, 'api.yaml'), 'utf8');
    // A typo'd field in the pod spec, and a string where a number goes in the HPA.
    writeFileSync(join(broken, 'api.yaml'), api.replace('terminationGracePeriodSeconds: 30', 'terminationGracePeriodSecond: 30').replace('maxReplicas: 20', 'maxReplicas: twenty'));
    const scaled = readFileSync(join(broken, 'sessions-worker.yaml'), 'utf8');
    writeFileSync(join(broken, 'sessions-worker.yaml'), scaled.replace('pollingInterval: 15', 'pollingInterval: 15\n  pollInterval: 15'));
    writeFileSync(join(broken, 'extra.yaml'), 'apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n');
    const { code, out } = await check(broken);
    expect(code).toBe(1);
    expect(out).toMatch(/FAIL .*api\.yaml#1 Deployment\/kortix-api: .*unknown field "terminationGracePeriodSecond"/);
    expect(out).toMatch(/FAIL .*api\.yaml#3 HorizontalPodAutoscaler\/kortix-api: .*cannot unmarshal string into Go struct field .*spec\.maxReplicas of type int32/);
    expect(out).toMatch(/FAIL .*sessions-worker\.yaml#2 ScaledObject\/kortix-sessions-worker: .*unknown field "pollInterval"/);
    expect(out).toMatch(/FAIL .*extra\.yaml#1 Widget\/w: unknown apiVersion\/kind/);
    expect(out).toMatch(/, 4 failed/);
  });
});

describe('what the manifests say', () => {
  it('lists every file of the base in its kustomization', () => {
    const listed = (docs('base/kustomization.yaml')[0] as unknown as { resources: string[] }).resources.sort();
    expect(listed).toEqual(readdirSync(join(K8S, 'base')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  it('scales the sessions workers with the Temporal scaler on explicit queue types and a backlog per replica', () => {
    const so = find('base/sessions-worker.yaml', 'ScaledObject');
    const trigger = so.spec.triggers[0]!;
    expect(trigger.type).toBe('temporal');
    expect(trigger.metadata).toMatchObject({ taskQueue: 'kortix-sessions', queueTypes: 'workflow,activity' });
    expect(Number(trigger.metadata.targetQueueSize)).toBeGreaterThan(0);
    expect(so.spec.scaleTargetRef.name).toBe('kortix-sessions-worker');
  });

  it('gives every worker longer to stop than its 30 s shutdown grace (temporal/worker.ts)', () => {
    const grace = Number(/shutdownGraceTime \?\? '(\d+)s'/.exec(readFileSync(resolve(REPO_ROOT, 'temporal/worker.ts'), 'utf8'))?.[1]);
    expect(grace).toBe(30);
    for (const [file, kind] of [['base/sessions-worker.yaml', 'Deployment'], ['base/sandbox-host.yaml', 'DaemonSet']] as const) {
      expect(find(file, kind).spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(grace);
    }
  });

  it('scales the API on CPU and requests per second, and keeps one of each role through disruptions', () => {
    const hpa = find('base/api.yaml', 'HorizontalPodAutoscaler');
    expect(hpa.spec.metrics.map((m) => m.type).sort()).toEqual(['Pods', 'Resource']);
    expect(hpa.spec.metrics.find((m) => m.type === 'Pods')?.pods?.metric.name).toBe('http_requests_per_second');
    for (const file of ['base/api.yaml', 'base/sessions-worker.yaml', 'base/sandbox-host.yaml', 'base/temporal-ui.yaml']) {
      expect(find(file, 'PodDisruptionBudget'), file).toBeDefined();
    }
  });

  it('runs sessions workers with the sessions role only, a 4 MB semi-space (node\'s flag: the main thread\'s too), two malloc arenas and a cache of 400 workflows', () => {
    const env = find('base/sessions-worker.yaml', 'Deployment').spec.template.spec.containers[0]!.env;
    expect(env.find((e) => e.name === 'WORKER_ROLES')?.value).toBe('sessions');
    expect(env.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-semi-space-size=4');
    expect(env.find((e) => e.name === 'MALLOC_ARENA_MAX')?.value).toBe('2');
    // Its own cache bound, not the SDK's default from the pod's heap limit (189 workflows at 1 GiB).
    expect(env.find((e) => e.name === 'WORKER_MAX_CACHED_WORKFLOWS')?.value).toBe('400');
    expect(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: env.find((e) => e.name === 'WORKER_MAX_CACHED_WORKFLOWS')?.value }).WORKER_MAX_CACHED_WORKFLOWS).toBe(400);
    // Node accepts the flag in NODE_OPTIONS (it refuses most V8 flags there): a worker started this way starts.
    const out = execFileSync(process.execPath, ['-p', "require('node:v8').getHeapSpaceStatistics().length"], { env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=4' }, encoding: 'utf8' });
    expect(Number(out)).toBeGreaterThan(0);
  });

  it('puts sandbox hosts on labelled nodes, one host-affinity queue per node, with the egress firewall on', () => {
    const ds = find('base/sandbox-host.yaml', 'DaemonSet');
    expect(ds.spec.template.spec.nodeSelector).toEqual({ 'kortix.dev/sandbox-host': 'true' });
    const env = ds.spec.template.spec.containers[0]!.env;
    expect(env.find((e) => e.name === 'WORKER_HOST_ID')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(env.find((e) => e.name === 'SANDBOX_EGRESS_FIREWALL')?.value).toBe('on');
    expect(env.find((e) => e.name === 'WORKER_ROLES')?.value).toBe('sandbox');
  });

  it('reads secrets from the Secret as files, VOTE_SIGNING_KEY included, and runs the UI read-only behind login', () => {
    const config = find('base/config.yaml', 'ConfigMap') as unknown as { data: Record<string, string> };
    expect(config.data.KORTIX_ENV).toBe('prod');
    expect(config.data.VOTE_SIGNING_KEY_FILE).toBe('/run/secrets/kortix/vote_signing_key');
    expect(Object.keys(config.data).filter((k) => /KEY$|SECRET$|TOKEN$|^DATABASE_URL$/.test(k))).toEqual([]);
    const ui = find('base/temporal-ui.yaml', 'Deployment');
    const env = Object.fromEntries(ui.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ TEMPORAL_AUTH_ENABLED: 'true', TEMPORAL_DISABLE_WRITE_ACTIONS: 'true' });
    // The codec endpoint with the login cookie (api/codec-login.ts): the API's /v1/codec, credentials included.
    expect(env).toMatchObject({ TEMPORAL_CODEC_ENDPOINT: `${config.data.PUBLIC_API_URL}/v1/codec`, TEMPORAL_CODEC_INCLUDE_CREDENTIALS: 'true' });
  });
});

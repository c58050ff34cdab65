/**
 * docker-compose.dev.yaml and docker-compose.prod.yaml, as Debian's
 * docker-compose reads them (`docker-compose config`, provisioned by
 * scripts/provision/prometheus.sh): both are valid and bring up the platform
 * with its observability stack; the files they mount exist and match what
 * Prometheus, Grafana and Alertmanager expect; Prometheus scrapes the ports the
 * processes listen on by default; prod publishes no debug port, restarts every
 * service, checks the platform's /readyz and takes secrets from files only.
 * Both run Ollama (the version scripts/provision/ollama.sh builds) with a
 * healthcheck, the platform's local provider pointed at it, on the CPU unless
 * docker-compose.gpu.yaml is added. Only the files are checked: no image can
 * be pulled on these machines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, REPO_ROOT } from '../../config/index.js';
import { provision } from '../../scripts/lib/provision.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  /** `[host:]published:target[/proto]`, or the long form. */
  ports?: (string | { published?: number | string; target: number })[];
  volumes?: string[];
  secrets?: { source: string }[];
  restart?: string;
  healthcheck?: { test: string[] };
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; count?: string | number; capabilities?: string[] }[] } } };
  runtime?: string;
  profiles?: string[];
}
interface Compose {
  services: Record<string, Service>;
  secrets?: Record<string, { file?: string }>;
}

const FILES = ['docker-compose.dev.yaml', 'docker-compose.prod.yaml'] as const;
const composed: Partial<Record<(typeof FILES)[number], Compose>> = {};
let dockerCompose: string;

/** `docker-compose -f <file>... config`, parsed. */
function composeConfig(files: readonly string[]): Compose {
  // A fixed environment: the test checks the files, not this shell's overrides.
  const r = spawnSync(dockerCompose, [...files.flatMap((f) => ['-f', f]), 'config'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  if (r.status !== 0) throw new Error(`docker-compose -f ${files.join(' -f ')} config failed (${r.status}): ${r.stderr}`);
  return parse(r.stdout) as Compose;
}

beforeAll(async () => {
  dockerCompose = (await provision('prometheus')).DOCKER_COMPOSE_BIN as string;
  for (const file of FILES) composed[file] = composeConfig([file]);
}, 600_000);

const compose = (file: (typeof FILES)[number]) => composed[file] as Compose;

/** The published host port of a port entry, or undefined when it is not published. */
function publishedPort(spec: NonNullable<Service['ports']>[number]): number | undefined {
  if (typeof spec !== 'string') return spec.published === undefined ? undefined : Number(spec.published);
  const parts = spec.replace(/\/\w+$/, '').split(':');
  return parts.length >= 2 ? Number(parts[parts.length - 2]) : undefined;
}

/** Bind mounts as [host path, container path]. */
function binds(service: Service): [string, string][] {
  return (service.volumes ?? [])
    .map((v) => v.split(':'))
    .filter((p) => p[0]?.startsWith('/') && p[1])
    .map((p) => [p[0] as string, p[1] as string]);
}

const SECRETISH = /KEY|SECRET|TOKEN|PASSWORD|PWD|DATABASE_URL|WEBHOOK/;

describe.each(FILES)('%s', (file) => {
  it('is valid for docker-compose and brings up the platform with its observability stack', () => {
    const services = Object.keys(compose(file).services);
    expect(services).toEqual(expect.arrayContaining(['api', 'worker', 'temporal', 'postgres', 'prometheus', 'alertmanager', 'grafana', 'jaeger']));
  });

  it('runs the api and the worker from the platform image, role by command', () => {
    const entrypoint = readFileSync(resolve(REPO_ROOT, 'scripts/docker-entrypoint.sh'), 'utf8');
    for (const role of ['api', 'worker'] as const) {
      const service = compose(file).services[role] as Service;
      expect(service.command).toEqual([role]);
      expect(entrypoint).toContain(`  ${role}) run `);
      if (service.build) expect(existsSync(resolve(service.build.context, service.build.dockerfile ?? 'Dockerfile'))).toBe(true);
      else expect(service.image).toMatch(/kortix\/platform/);
    }
  });

  it('mounts files that exist, where Prometheus, Grafana and Alertmanager read them', () => {
    const { services } = compose(file);
    for (const [name, service] of Object.entries(services)) {
      for (const [host] of binds(service)) {
        if (host !== '/var/run/docker.sock') expect(existsSync(host), `${name}: ${host}`).toBe(true);
      }
    }
    const mountOf = (service: string, target: string) => binds(services[service] as Service).find(([, t]) => t === target)?.[0];
    expect(mountOf('prometheus', '/etc/prometheus')).toBe(resolve(REPO_ROOT, 'observability/prometheus'));
    expect(services.prometheus?.command).toContain('--config.file=/etc/prometheus/prometheus.yml');

    const alertmanagerConfig = resolve(REPO_ROOT, 'observability/alertmanager/alertmanager.yml');
    const amBinds = binds(services.alertmanager as Service);
    expect(
      amBinds.some(([h, t]) => (h === alertmanagerConfig && t === '/etc/alertmanager/alertmanager.yml') || (h === resolve(alertmanagerConfig, '..') && t === '/etc/alertmanager')),
    ).toBe(true);
    expect(services.alertmanager?.command).toContain('--config.file=/etc/alertmanager/alertmanager.yml');

    expect(mountOf('grafana', '/etc/grafana/provisioning')).toBe(resolve(REPO_ROOT, 'observability/grafana/provisioning'));
    const provider = parse(readFileSync(resolve(REPO_ROOT, 'observability/grafana/provisioning/dashboards/dashboards.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    expect(mountOf('grafana', provider.providers[0]?.options.path ?? '?')).toBe(resolve(REPO_ROOT, 'observability/grafana/dashboards'));
  });

  it('gives Alertmanager the secret files its config reads', () => {
    const am = readFileSync(resolve(REPO_ROOT, 'observability/alertmanager/alertmanager.yml'), 'utf8');
    const wanted = [...am.matchAll(/_file: \/run\/secrets\/(\w+)/g)].map((m) => m[1]);
    expect(wanted.length).toBeGreaterThanOrEqual(2);
    const mounted = compose(file).services.alertmanager?.secrets?.map((s) => s.source) ?? [];
    expect(mounted).toEqual(expect.arrayContaining(wanted));
    for (const name of wanted) expect(compose(file).secrets?.[name as string]?.file).toBeDefined();
  });

  it('has Prometheus scrape the services on the ports they listen on by default', () => {
    const prometheus = parse(readFileSync(resolve(REPO_ROOT, 'observability/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    const jobs = Object.fromEntries(prometheus.scrape_configs.map((j) => [j.job_name, j.dns_sd_configs?.[0]]));
    const defaults = loadConfig({});
    expect(jobs['kortix-api']).toMatchObject({ names: ['api'], port: defaults.API_PORT });
    expect(jobs['kortix-worker']).toMatchObject({ names: ['worker'], port: defaults.WORKER_HEALTH_PORT });
    expect(jobs['kortix-worker-sdk']).toMatchObject({ names: ['worker'], port: defaults.WORKER_SDK_METRICS_PORT });
    for (const job of Object.values(jobs)) for (const name of job?.names ?? []) expect(Object.keys(compose(file).services)).toContain(name);
    // The image binds the worker's endpoints beyond loopback, so that Prometheus reaches them.
    const dockerfile = readFileSync(resolve(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/WORKER_HEALTH_HOST=0\.0\.0\.0/);
    expect(dockerfile).toMatch(/API_HOST=0\.0\.0\.0/);
  });
});

describe.each(FILES)('%s: the local model server', (file) => {
  const ollama = () => compose(file).services.ollama as Service;
  const provisioned = /^OLLAMA_VERSION="v([\d.]+)"$/m.exec(readFileSync(resolve(REPO_ROOT, 'scripts/provision/ollama.sh'), 'utf8'))?.[1];

  it('runs Ollama, the version make provision builds, with its models in a volume and a healthcheck', () => {
    expect(provisioned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(ollama().image).toBe(`ollama/ollama:${provisioned}`);
    expect(ollama().environment?.OLLAMA_HOST).toBe('0.0.0.0:11434');
    expect(ollama().volumes).toEqual(expect.arrayContaining([expect.stringMatching(/^ollama-models:\/root\/\.ollama(:rw)?$/)]));
    expect(ollama().healthcheck?.test).toEqual(['CMD', 'ollama', 'list']);
  });

  it('points the api’s and the worker’s local provider at it, with a model to serve', () => {
    for (const role of ['api', 'worker']) {
      const env = compose(file).services[role]?.environment ?? {};
      expect(env.LOCAL_LLM_URL, role).toBe('http://ollama:11434/v1');
      expect(env.LOCAL_MODEL, role).toBe('qwen2.5:0.5b');
      expect(loadConfig({ LOCAL_LLM_URL: env.LOCAL_LLM_URL as string, LOCAL_MODEL: env.LOCAL_MODEL as string }).LOCAL_MODEL).toBe('qwen2.5:0.5b');
    }
    if (file === 'docker-compose.prod.yaml') {
      // Production routes local first (router/model_policy.prod.yaml); the image holds that file.
      expect(compose(file).services.api?.environment?.MODEL_POLICY_FILE).toBe('/app/router/model_policy.prod.yaml');
      expect(existsSync(resolve(REPO_ROOT, 'router/model_policy.prod.yaml'))).toBe(true);
    }
  });

  it('needs no GPU: no device reserved, no runtime, no profile to enable; docker-compose.gpu.yaml adds the GPU', () => {
    expect(ollama().deploy).toBeUndefined();
    expect(ollama().runtime).toBeUndefined();
    expect(ollama().profiles).toBeUndefined();
    const gpu = composeConfig([file, 'docker-compose.gpu.yaml']);
    expect(gpu.services.ollama?.deploy?.resources?.reservations?.devices).toEqual([{ driver: 'nvidia', count: 'all', capabilities: ['gpu'] }]);
    // The same services; only Ollama reserves a device.
    expect(Object.keys(gpu.services).sort()).toEqual(Object.keys(compose(file).services).sort());
    for (const [name, service] of Object.entries(gpu.services)) if (name !== 'ollama') expect(service.deploy?.resources?.reservations?.devices, name).toBeUndefined();
  });
});

describe('docker-compose.prod.yaml', () => {
  const prod = () => compose('docker-compose.prod.yaml');

  it('publishes the API and Grafana only', () => {
    const published = Object.entries(prod().services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name}:${publishedPort(p)}`));
    expect(published.sort()).toEqual(['api:8000', 'grafana:3000']);
  });

  it('restarts every service and checks the platform through /readyz', () => {
    for (const [name, service] of Object.entries(prod().services)) expect(service.restart, name).toBe('unless-stopped');
    for (const name of ['api', 'worker']) expect(prod().services[name]?.healthcheck?.test.join(' '), name).toMatch(/\/readyz/);
  });

  it('takes secrets from files, never from inline values', () => {
    const secrets = prod().secrets ?? {};
    expect(Object.keys(secrets).length).toBeGreaterThan(5);
    for (const [name, secret] of Object.entries(secrets)) expect(secret.file, name).toBeDefined();
    for (const [name, service] of Object.entries(prod().services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (!SECRETISH.test(key)) continue;
        expect(key.endsWith('_FILE') || key.endsWith('__FILE'), `${name}: ${key} is set inline`).toBe(true);
        expect(value, `${name}: ${key}`).toMatch(/^\/run\/secrets\/\w+$/);
      }
      for (const part of [...(service.command ?? []), ...(service.entrypoint ?? [])]) {
        expect(part, `${name} command`).not.toMatch(/password=|PWD=[^"$]/i);
      }
    }
    // Every *_FILE the platform is given is one the entrypoint reads into its variable.
    const entrypoint = readFileSync(resolve(REPO_ROOT, 'scripts/docker-entrypoint.sh'), 'utf8');
    const handled = /for name in ([A-Z_ ]+); do/.exec(entrypoint)?.[1]?.split(' ') ?? [];
    // Secret files only: MODEL_POLICY_FILE is a path of the image, not a secret.
    const given = Object.entries(prod().services.api?.environment ?? {})
      .filter(([k, v]) => k.endsWith('_FILE') && String(v).startsWith('/run/secrets/'))
      .map(([k]) => k.slice(0, -'_FILE'.length));
    expect(given.length).toBeGreaterThan(0);
    expect(handled).toEqual(expect.arrayContaining(given));
  });

  it('runs a built image, never a build on the host', () => {
    for (const [name, service] of Object.entries(prod().services)) expect(service.build, name).toBeUndefined();
  });
});

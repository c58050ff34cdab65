/**
 * Each model endpoint the running policy uses, probed for /readyz: the local
 * server (Ollama), the cloud providers, the mock. Reported beside readiness,
 * never part of it: a model endpoint down is what fallbacks are for, and an
 * API that turned unready for it would stop taking sessions that the next
 * deployment in the chain could serve. For OpenAI-compatible servers the
 * answer of GET /models also says whether each configured model is there
 * (a local model that was never pulled shows as `available: false`).
 */
import { Secret } from '../config/secret.js';
import type { ResolvedModelPolicy } from './model-policy.js';

export interface ModelAvailability {
  /** The policy's key of the model. */
  readonly name: string;
  /** The id the provider knows it by. */
  readonly model: string;
  /** Listed by the endpoint's GET /models; null where the endpoint does not list (Anthropic, in-process). */
  readonly available: boolean | null;
}

export interface ModelEndpointStatus {
  readonly provider: string;
  readonly kind: string;
  /** The base URL without credentials or query; null for providers in process. */
  readonly url: string | null;
  readonly ok: boolean;
  readonly error?: string;
  readonly models: readonly ModelAvailability[];
}

/** The model keys a policy can send a request to: default, routes and their fallbacks, downgrades, summaries, embeddings. */
export function modelsInUse(policy: ResolvedModelPolicy): string[] {
  const keys = new Set<string>();
  for (const route of [policy.defaultRoute, ...policy.routes]) {
    keys.add(route.model);
    for (const chain of Object.values(route.fallbacks)) for (const key of chain ?? []) keys.add(key);
  }
  const budgets = [policy.budgets.default, ...Object.values(policy.budgets.tenants)];
  for (const b of budgets) if (b?.onExceeded.action === 'downgrade') keys.add(b.onExceeded.model);
  if (policy.context.summaryModel) keys.add(policy.context.summaryModel);
  if (policy.embeddings) keys.add(policy.embeddings.model);
  return [...keys].filter((k) => Object.hasOwn(policy.models, k)).sort();
}

function display(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '(not a URL)';
  }
}

export interface EndpointProbeOptions {
  /** The parsed configuration: `baseUrlEnv` and `apiKeyEnv` name its fields. */
  readonly env: Readonly<Record<string, unknown>>;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** Probes every endpoint of the models in use, in parallel, each within the timeout. */
export async function probeModelEndpoints(policy: ResolvedModelPolicy, options: EndpointProbeOptions): Promise<ModelEndpointStatus[]> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 1_500;
  const envString = (name: string | undefined): string | undefined => {
    const value = name ? options.env[name] : undefined;
    if (value instanceof Secret) return value.reveal();
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const byProvider = new Map<string, { name: string; model: string }[]>();
  for (const key of modelsInUse(policy)) {
    const m = policy.models[key];
    if (!m) continue;
    const list = byProvider.get(m.provider) ?? [];
    list.push({ name: key, model: m.model });
    byProvider.set(m.provider, list);
  }
  return Promise.all(
    [...byProvider].map(async ([provider, models]): Promise<ModelEndpointStatus> => {
      const config = policy.providers[provider];
      const kind = config?.kind ?? 'unknown';
      const base = envString(config?.baseUrlEnv) ?? config?.baseUrl;
      const unknown = (available: boolean | null) => models.map((m) => ({ ...m, available }));
      if (!config || !base) return { provider, kind, url: null, ok: config !== undefined, ...(config ? {} : { error: 'unknown provider' }), models: unknown(null) };
      const url = display(base);
      const key = config.apiKey?.reveal() ?? envString(config.apiKeyEnv);
      if ((config.apiKey || config.apiKeyEnv) && !key) return { provider, kind, url, ok: false, error: `${config.apiKeyEnv ?? 'apiKeyFile'} is not set`, models: unknown(null) };
      const anthropic = kind === 'anthropic';
      const target = `${base.replace(/\/+$/, '')}${anthropic ? '/v1/models' : '/models'}`;
      const headers: Record<string, string> = anthropic ? { 'anthropic-version': '2023-06-01', ...(key ? { 'x-api-key': key } : {}) } : key ? { authorization: `Bearer ${key}` } : {};
      try {
        const res = await doFetch(target, { headers, signal: AbortSignal.timeout(timeoutMs) });
        const text = await res.text();
        if (!res.ok) return { provider, kind, url, ok: false, error: `GET ${anthropic ? '/v1/models' : '/models'} answered ${res.status}`, models: unknown(null) };
        if (anthropic) return { provider, kind, url, ok: true, models: unknown(null) };
        let ids: Set<string> | undefined;
        try {
          const parsed = JSON.parse(text) as { data?: { id?: unknown }[] };
          ids = new Set((parsed.data ?? []).map((d) => String(d.id)));
        } catch {
          ids = undefined;
        }
        // Ollama lists `name:latest` for a model asked for as `name`.
        const listed = (m: string) => (ids ? ids.has(m) || (!m.includes(':') && ids.has(`${m}:latest`)) : null);
        return { provider, kind, url, ok: true, models: models.map((m) => ({ ...m, available: listed(m.model) })) };
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
        return { provider, kind, url, ok: false, error: why, models: unknown(null) };
      }
    }),
  );
}

/** Probes at most once per `ttlMs` (callers in between share the last answer or the probe in flight). */
export function cachedModelEndpoints(probe: () => Promise<ModelEndpointStatus[]>, ttlMs = 15_000, now = () => Date.now()): () => Promise<ModelEndpointStatus[]> {
  let last: { at: number; value: Promise<ModelEndpointStatus[]> } | undefined;
  return () => {
    if (!last || now() - last.at >= ttlMs) {
      const value = probe();
      last = { at: now(), value };
      value.catch(() => {
        last = undefined;
      });
    }
    return last.value;
  };
}

/**
 * An in-process Vault speaking the KV version 2 HTTP API as Kortix uses it
 * (no Vault server can be installed here). Faithful to the real server in
 * what Kortix depends on:
 * - `X-Vault-Token` checked on every request: a missing or unknown token is
 *   403 `{"errors":["permission denied"]}`; a token may be limited to paths.
 * - `GET /v1/<mount>/data/<path>[?version=N]` → 200 `{request_id, lease_id,
 *   renewable, lease_duration, data: {data, metadata: {created_time,
 *   custom_metadata, deletion_time, destroyed, version}}, wrap_info,
 *   warnings, auth}`; no such path or version → 404 `{"errors":[]}`; a
 *   deleted version → 404 with its metadata and `data: null`.
 * - `POST|PUT /v1/<mount>/data/<path>` `{data}` writes a new version.
 * - `LIST /v1/<mount>/metadata/<path>` (or GET with `?list=true`) → keys,
 *   folders with a trailing `/`; none → 404 `{"errors":[]}`.
 * - `X-Vault-Namespace` (Enterprise / OpenBao namespaces): each namespace has
 *   its own store; a request without it uses the root namespace.
 * Every request is recorded (method, path, namespace, whether a token came).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

interface Version {
  readonly data: Record<string, unknown>;
  readonly created: string;
  deleted?: string;
}

export interface VaultRequest {
  readonly method: string;
  readonly path: string;
  readonly namespace: string | undefined;
  readonly tokenSent: boolean;
}

export class FakeVault {
  readonly requests: VaultRequest[] = [];
  /** namespace ('' = root) → mount → path → versions (index 0 = version 1). */
  readonly #store = new Map<string, Map<string, Map<string, Version[]>>>();
  /** token → path prefixes it may use (empty: all). */
  readonly #tokens = new Map<string, string[]>();
  readonly #mounts: Set<string>;
  #server: Server | undefined;
  url = '';

  constructor(options: { mounts?: string[] } = {}) {
    this.#mounts = new Set(options.mounts ?? ['secret']);
  }

  addToken(token: string, paths: string[] = []): void {
    this.#tokens.set(token, paths);
  }

  /** Writes a version directly (as `vault kv put` would); returns its number. */
  put(mount: string, path: string, data: Record<string, unknown>, namespace = ''): number {
    const versions = this.#versions(namespace, mount, path, true) as Version[];
    versions.push({ data, created: new Date().toISOString() });
    return versions.length;
  }

  /** `vault kv delete -versions=N`: the version stays, answering 404 with its metadata. */
  deleteVersion(mount: string, path: string, version: number, namespace = ''): void {
    const v = this.#versions(namespace, mount, path, false)?.[version - 1];
    if (v) v.deleted = new Date().toISOString();
  }

  #versions(namespace: string, mount: string, path: string, create: boolean): Version[] | undefined {
    let ns = this.#store.get(namespace);
    if (!ns && create) this.#store.set(namespace, (ns = new Map()));
    let m = ns?.get(mount);
    if (ns && !m && create) ns.set(mount, (m = new Map()));
    let v = m?.get(path);
    if (m && !v && create) m.set(path, (v = []));
    return v;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => this.#handle(req, res, body));
    });
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  #handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(payload));
    };
    const url = new URL(req.url ?? '/', 'http://vault');
    const token = req.headers['x-vault-token'];
    const namespace = typeof req.headers['x-vault-namespace'] === 'string' ? req.headers['x-vault-namespace'].replace(/\/+$/, '') : undefined;
    const method = req.method === 'GET' && url.searchParams.get('list') === 'true' ? 'LIST' : (req.method ?? 'GET');
    this.requests.push({ method, path: url.pathname, namespace, tokenSent: typeof token === 'string' });
    const allowed = typeof token === 'string' ? this.#tokens.get(token) : undefined;
    if (!allowed) return send(403, { errors: ['permission denied'] });
    const m = /^\/v1\/(.+?)\/(data|metadata)\/(.+)$/.exec(decodeURIComponent(url.pathname));
    if (!m || !this.#mounts.has(m[1] as string)) return send(404, { errors: [`no handler for route "${url.pathname.slice(4)}". route entry not found.`] });
    const [, mount = '', kind, path = ''] = m;
    if (allowed.length > 0 && !allowed.some((p) => path.startsWith(p))) return send(403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
    const ns = namespace ?? '';
    const envelope = (data: unknown) => ({ request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null });
    if (kind === 'metadata') {
      if (method !== 'LIST') return send(405, { errors: [] });
      const folder = `${path.replace(/\/+$/, '')}/`;
      const keys = new Set<string>();
      for (const [p, versions] of this.#store.get(ns)?.get(mount) ?? []) {
        if (!p.startsWith(folder) || versions.length === 0) continue;
        const rest = p.slice(folder.length);
        keys.add(rest.includes('/') ? `${rest.split('/')[0]}/` : rest);
      }
      if (keys.size === 0) return send(404, { errors: [] });
      return send(200, envelope({ keys: [...keys].sort() }));
    }
    if (method === 'POST' || method === 'PUT') {
      let data: unknown;
      try {
        data = (JSON.parse(body) as { data?: unknown }).data;
      } catch {
        return send(400, { errors: ['failed to parse JSON input'] });
      }
      if (!data || typeof data !== 'object') return send(400, { errors: ['no data provided'] });
      const version = this.put(mount, path, data as Record<string, unknown>, ns);
      return send(200, envelope({ created_time: new Date().toISOString(), custom_metadata: null, deletion_time: '', destroyed: false, version }));
    }
    if (method !== 'GET') return send(405, { errors: [] });
    const versions = this.#versions(ns, mount, path, false) ?? [];
    const wanted = url.searchParams.get('version');
    const number = wanted === null || wanted === '0' ? versions.length : Number(wanted);
    const v = Number.isInteger(number) ? versions[number - 1] : undefined;
    if (!v) return send(404, { errors: [] });
    const metadata = { created_time: v.created, custom_metadata: null, deletion_time: v.deleted ?? '', destroyed: false, version: number };
    if (v.deleted) return send(404, envelope({ data: null, metadata }));
    return send(200, envelope({ data: v.data, metadata }));
  }
}

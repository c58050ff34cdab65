/**
 * Network for sandboxes whose policy names hosts. Such a sandbox joins one
 * internal Docker network of its host (no route out, no inter-container
 * traffic: `enable_icc=false`), and its only way out is the allowlisting
 * proxy (sandbox/egress-proxy.ts) that this worker runs on the network's
 * gateway address. A firewall chain on the network's bridge drops every other
 * packet to this machine, so the sandbox cannot reach host services either.
 *
 * Which sandbox may reach what is read from Docker: each egress container
 * carries its allowlist as a label, and the proxy maps its source address to
 * it, so a restarted worker serves the sandboxes it already has. Hosts its
 * policy lets people approve (`network.approve`) are a second label; once a
 * gate approves one, a grant for that container is stored (egress_grants,
 * read through `useGrants`) and the proxy allows it beside the label's.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import type { Logger } from '../observability/logger.js';
import { parseAllowlist, type AllowEntry } from './allowlist.js';
import { LABELS, type EgressAttachment } from './container-spec.js';
import { statusCode } from './docker-engine.js';
import { SecretBroker, type SandboxSecrets } from './egress-broker.js';
import type { EgressCa } from './egress-ca.js';
import { EgressProxy, type EgressProxyOptions, type EgressRefusal } from './egress-proxy.js';
import { EgressRefusals } from './egress-refusals.js';
import { parseSecretsLabel, secretsLabel } from './egress-secrets-label.js';
import { SandboxGoneError, SandboxRequestError } from './errors.js';
import { coversRequest } from '../policies/host-patterns.js';

const run = promisify(execFile);

export interface EgressGatewayOptions {
  readonly docker: Docker;
  /** Labels of this host's containers (managed, pool, host); the network carries them too. */
  readonly selector: Readonly<Record<string, string>>;
  /** The proxy's port on the gateway address. */
  readonly port: number;
  /** `auto`: install the host firewall chain when iptables works here, else warn; `on`: required; `off`: never. */
  readonly firewall: 'auto' | 'on' | 'off';
  /** What makes the firewall required, named when it cannot be applied (default `SANDBOX_EGRESS_FIREWALL=on`). */
  readonly firewallRequiredBy?: string | undefined;
  readonly logger?: Logger | undefined;
  /** Name resolution of the proxy (tests map names to local servers). */
  readonly lookup?: EgressProxyOptions['lookup'];
  /** Internal addresses a name may lead to: tests only (see EgressProxyOptions). */
  readonly internalAllowed?: readonly string[] | undefined;
  readonly maxConnectionsPerSandbox?: number | undefined;
  readonly idleTimeoutMs?: number | undefined;
  /** A bound secret's value (the worker's secret provider); without it no secret is brokered. */
  readonly secretValue?: ((tenantId: string, name: string) => Promise<string>) | undefined;
  /** The deployment's CA for brokered HTTPS (loaded or made on first use). */
  readonly ca?: (() => EgressCa) | undefined;
  /** PEM certificates trusted for upstream servers of brokered HTTPS beside the system's roots. */
  readonly upstreamCa?: readonly string[] | undefined;
}

/** A host granted to one container after approval (port undefined: 80 and 443). */
export interface EgressGrant {
  readonly containerId: string;
  readonly host: string;
  readonly port?: number | null | undefined;
}

/** Where the grants live (Postgres in a worker): read at every refresh, so a restarted worker keeps them. */
export interface EgressGrantSource {
  forContainers(containerIds: readonly string[]): Promise<readonly EgressGrant[]>;
}

interface SandboxEgress {
  readonly allow: AllowEntry[];
  readonly approve: AllowEntry[];
  readonly secrets?: SandboxSecrets | undefined;
}

/** A container's endpoint options on a network (dockerode's types lack the field Docker returns). */
function endpointOptionsOf(info: Docker.ContainerInspectInfo, network: string): Record<string, string> {
  const endpoint = info.NetworkSettings.Networks[network] as { DriverOpts?: Record<string, string> | null } | undefined;
  return endpoint?.DriverOpts ?? {};
}

const parseLabel = (value: string | undefined, field: string) => parseAllowlist((value ?? '').split(',').filter(Boolean), field);

interface Attached {
  readonly network: string;
  readonly gateway: string;
  readonly proxy: EgressProxy;
}

const REFRESH_EVERY_MS = 1_000;

export class EgressGateway {
  readonly #options: EgressGatewayOptions;
  readonly network: string;
  readonly #bridge: string;
  readonly #chain: string;
  #attached: Promise<Attached> | undefined;
  /** Source address → allowlist (labels and grants) and approvable hosts, rebuilt from the containers. */
  #byAddress = new Map<string, SandboxEgress>();
  #grants: EgressGrantSource | undefined;
  #refreshedAt = 0;
  #refreshing: Promise<void> | undefined;
  #firewalled = false;
  readonly #refusals = new EgressRefusals();
  /** Endpoint options (a warm sandbox's allowlist, set at claim) per container and endpoint: fixed for the endpoint's life. */
  #endpointLabels = new Map<string, Record<string, string>>();

  constructor(options: EgressGatewayOptions) {
    this.#options = options;
    const names = egressNames(createHash('sha256').update(JSON.stringify(options.selector)).digest('hex').slice(0, 10));
    this.network = names.network;
    this.#bridge = names.bridge;
    this.#chain = names.chain;
  }

  /** Whether the host must set the gateway up at start: a required firewall that cannot be applied stops startup, not a session. */
  get requiredAtStart(): boolean {
    return this.#options.firewall === 'on';
  }

  /** Whether the egress network of this host exists already (a restarted worker serves it again). */
  async exists(): Promise<boolean> {
    try {
      await this.#options.docker.getNetwork(this.network).inspect();
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }

  /** Creates what is missing (network, firewall, proxy) and says how a sandbox with `allow` (and `approve`) attaches. */
  async attach(allow: readonly string[], approve: readonly string[] = [], secrets?: SandboxSecrets): Promise<EgressAttachment> {
    if (secrets && secrets.secrets.length > 0 && !this.brokers) {
      throw new SandboxRequestError('the session binds secrets to hosts, but this sandbox host brokers no secrets (no secret provider or CA)');
    }
    parseAllowlist(allow);
    parseAllowlist(approve, 'network.approve');
    this.#attached ??= this.#setUp().catch((err: unknown) => {
      this.#attached = undefined;
      throw err;
    });
    const { network, gateway } = await this.#attached;
    return {
      network,
      proxyUrl: `http://${gateway}:${this.#options.port}`,
      allow: [...allow],
      ...(approve.length > 0 ? { approve: [...approve] } : {}),
      ...(secrets && secrets.secrets.length > 0 ? { secrets } : {}),
    };
  }

  /** Whether this host can broker secrets (a provider and a CA). */
  get brokers(): boolean {
    return this.#options.secretValue !== undefined && this.#options.ca !== undefined;
  }

  /** The CA certificate sandboxes with bound secrets trust (PEM). */
  caCertificate(): string {
    if (!this.#options.ca) throw new SandboxRequestError('this sandbox host has no egress CA');
    return this.#options.ca().certPem;
  }

  /** The labels carrying a container's allowlist and approvable hosts. */
  static label(egress: Pick<EgressAttachment, 'allow' | 'approve' | 'secrets'>): Record<string, string> {
    const approve = egress.approve ?? [];
    return {
      [LABELS.egress]: egress.allow.join(','),
      ...(approve.length > 0 ? { [LABELS.egressApprove]: approve.join(',') } : {}),
      ...(egress.secrets && egress.secrets.secrets.length > 0 ? { [LABELS.egressSecrets]: secretsLabel(egress.secrets) } : {}),
    };
  }

  /** Where grants are read from (set once by the worker that has the database). */
  useGrants(source: EgressGrantSource): void {
    this.#grants = source;
  }

  /**
   * Grants `host` (`port`, or 80 and 443) to one egress container of this host, after checking that its
   * policy's labels cover it; `persist` stores the grant, and the proxy applies it from the next request.
   */
  async grant(containerId: string, host: string, port: number | undefined, persist: () => Promise<void>): Promise<void> {
    let labels: Record<string, string>;
    try {
      const info = await this.#options.docker.getContainer(containerId).inspect();
      // A warm sandbox carries its allowlist on its endpoint (set at claim), a cold one in its labels.
      labels = { ...endpointOptionsOf(info, this.network), ...(info.Config.Labels ?? {}) };
    } catch (err) {
      if (statusCode(err) === 404) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone`);
      throw err;
    }
    const ours = Object.entries(this.#options.selector).every(([k, v]) => labels[k] === v);
    if (!ours || labels[LABELS.egress] === undefined) {
      throw new SandboxRequestError(`sandbox ${containerId.slice(0, 12)} is not on this host's egress network: its policy names no hosts`);
    }
    const coverable = [...parseLabel(labels[LABELS.egress], 'network.allow'), ...parseLabel(labels[LABELS.egressApprove], 'network.approve')];
    if (!coversRequest(coverable, host, port)) {
      throw new SandboxRequestError(`${host}${port ? `:${port}` : ''} is in neither network.allow nor network.approve of this sandbox`);
    }
    await persist();
    await this.refresh();
  }

  async #setUp(): Promise<Attached> {
    const gateway = await this.#ensureNetwork();
    await this.#ensureFirewall(gateway);
    const proxy = new EgressProxy({
      host: gateway,
      port: this.#options.port,
      allowlistFor: async (source) => (await this.#egressFor(source))?.allow,
      approvalFor: async (source) => (await this.#egressFor(source))?.approve ?? [],
      lookup: this.#options.lookup,
      internalAllowed: this.#options.internalAllowed,
      maxConnectionsPerSandbox: this.#options.maxConnectionsPerSandbox,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      logger: this.#options.logger,
      onRefused: (refusal) => this.#refusals.record(refusal),
      broker: this.#broker(),
    });
    await proxy.listen();
    this.#options.logger?.info('egress proxy listening', { network: this.network, address: `${gateway}:${this.#options.port}`, firewall: this.#firewalled });
    return { network: this.network, gateway, proxy };
  }

  #broker(): SecretBroker | undefined {
    const { secretValue, ca } = this.#options;
    if (!secretValue || !ca) return undefined;
    return new SecretBroker({
      secretsFor: async (source) => (await this.#egressFor(source))?.secrets,
      valueOf: secretValue,
      ca,
      upstreamCa: this.#options.upstreamCa,
      logger: this.#options.logger,
    });
  }

  async #ensureNetwork(): Promise<string> {
    const gatewayOf = (info: { IPAM?: { Config?: { Gateway?: string }[] } }) => info.IPAM?.Config?.[0]?.Gateway;
    try {
      const info = await this.#options.docker.getNetwork(this.network).inspect();
      const gw = gatewayOf(info);
      if (gw) return gw;
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    try {
      await this.#options.docker.createNetwork({
        Name: this.network,
        Driver: 'bridge',
        Internal: true,
        CheckDuplicate: true,
        Options: { 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.bridge.name': this.#bridge },
        Labels: { ...this.#options.selector },
      });
    } catch (err) {
      // 409: made meanwhile by another start of this host.
      if (statusCode(err) !== 409) throw networkCreateError(this.network, err);
    }
    const gw = gatewayOf(await this.#options.docker.getNetwork(this.network).inspect());
    if (!gw) throw new Error(`egress network ${this.network} has no gateway address`);
    return gw;
  }

  /** Only the proxy's port of this machine is reachable from the bridge; every other packet to the host is dropped. */
  async #ensureFirewall(gateway: string): Promise<void> {
    if (this.#options.firewall === 'off') return;
    const ipt = (...args: string[]) => run('iptables', ['-w', ...args]);
    try {
      await ipt('-N', this.#chain).catch(() => undefined);
      await ipt('-F', this.#chain);
      await ipt('-A', this.#chain, '-p', 'tcp', '-d', gateway, '--dport', String(this.#options.port), '-j', 'ACCEPT');
      await ipt('-A', this.#chain, '-j', 'DROP');
      const hook = ['INPUT', '-i', this.#bridge, '-j', this.#chain];
      await ipt('-C', ...hook).catch(() => ipt('-I', ...hook));
      this.#firewalled = true;
    } catch (err) {
      const message = `cannot install the egress firewall (iptables): ${(err as Error).message.split('\n')[0]}`;
      if (this.#options.firewall === 'on') throw new Error(`${message}; ${this.#options.firewallRequiredBy ?? 'SANDBOX_EGRESS_FIREWALL=on'} requires it`);
      this.#options.logger?.warn(`${message}; sandboxes with network access can reach services listening on this host's addresses`);
    }
  }

  async #egressFor(source: string): Promise<SandboxEgress | undefined> {
    const address = source.replace(/^::ffff:/, '');
    const known = this.#byAddress.get(address);
    if (known) return known;
    if (Date.now() - this.#refreshedAt >= REFRESH_EVERY_MS) await this.refresh();
    return this.#byAddress.get(address);
  }

  /** Rebuilds address → allowlist from the running egress containers of this host and their grants. */
  async #refresh(): Promise<void> {
    // Every running container of this host on the network: cold ones carry their allowlist as labels, warm ones on their endpoint.
    const filters = { label: Object.entries(this.#options.selector).map(([k, v]) => `${k}=${v}`), status: ['running'] };
    const found = new Map<string, { containerId: string; egress: SandboxEgress }>();
    const endpoints = new Map<string, Record<string, string>>();
    for (const c of await this.#options.docker.listContainers({ filters })) {
      const endpoint = c.NetworkSettings?.Networks?.[this.network];
      const address = endpoint?.IPAddress;
      if (!address) continue;
      const labels = c.Labels?.[LABELS.egress] !== undefined ? c.Labels : await this.#endpointOptions(c.Id, endpoint.EndpointID, endpoints);
      const allow = labels?.[LABELS.egress];
      if (allow === undefined) continue;
      try {
        const secrets = parseSecretsLabel(labels?.[LABELS.egressSecrets]);
        const egress = {
          allow: parseLabel(allow, 'network.allow'),
          approve: parseLabel(labels?.[LABELS.egressApprove], 'network.approve'),
          ...(secrets ? { secrets } : {}),
        };
        found.set(address, { containerId: c.Id, egress });
      } catch {
        this.#options.logger?.warn('egress container with a bad allowlist label', { containerId: c.Id.slice(0, 12) });
      }
    }
    const grants = await this.#grantsOf([...found.values()].map((f) => f.containerId));
    const next = new Map<string, SandboxEgress>();
    for (const [address, { containerId, egress }] of found) {
      const granted = grants.filter((g) => g.containerId === containerId).map((g) => ({ host: g.host, ...(g.port ? { port: g.port } : {}) }));
      next.set(address, { ...egress, allow: [...egress.allow, ...granted] });
    }
    this.#byAddress = next;
    this.#endpointLabels = endpoints;
    this.#refreshedAt = Date.now();
  }

  /** A warm sandbox's endpoint options (its allowlist labels), read once per endpoint: `docker ps` does not show them. */
  async #endpointOptions(containerId: string, endpointId: string, seen: Map<string, Record<string, string>>): Promise<Record<string, string> | undefined> {
    const key = `${containerId}/${endpointId}`;
    let options = this.#endpointLabels.get(key);
    if (!options) {
      try {
        options = endpointOptionsOf(await this.#options.docker.getContainer(containerId).inspect(), this.network);
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    }
    seen.set(key, options);
    return options;
  }

  /**
   * Puts a running sandbox on the egress network with its allowlist (a warm one, at claim): off `none`,
   * onto the network, the allowlist as endpoint options (which nothing inside the container can change),
   * then the proxy reads it back before the claim answers. Idempotent: one already there stays as it is.
   */
  async connect(containerId: string, egress: Pick<EgressAttachment, 'allow' | 'approve' | 'secrets'>): Promise<void> {
    const container = this.#options.docker.getContainer(containerId);
    let networks: Record<string, unknown>;
    try {
      networks = (await container.inspect()).NetworkSettings.Networks ?? {};
    } catch (err) {
      if (statusCode(err) === 404) throw new SandboxGoneError(`sandbox ${containerId.slice(0, 12)} is gone`);
      throw err;
    }
    if (networks[this.network] === undefined) {
      // A container on `none` cannot join another network until it leaves `none`.
      if (networks.none !== undefined) await this.#options.docker.getNetwork('none').disconnect({ Container: containerId, Force: true });
      await this.#options.docker.getNetwork(this.network).connect({ Container: containerId, EndpointConfig: { DriverOpts: EgressGateway.label(egress) } });
    }
    await this.#refreshAfterChange();
  }

  /**
   * Takes a sandbox off the egress network (at release, before it is removed): the proxy forgets its
   * address at once, so a sandbox that gets the address next inherits neither its allowlist nor its refusals.
   * A container already gone or off the network is fine.
   */
  async disconnect(containerIdOrName: string): Promise<void> {
    let address: string | undefined;
    try {
      address = (await this.#options.docker.getContainer(containerIdOrName).inspect()).NetworkSettings.Networks?.[this.network]?.IPAddress;
    } catch (err) {
      if (statusCode(err) === 404) return;
      throw err;
    }
    if (!address) return;
    try {
      await this.#options.docker.getNetwork(this.network).disconnect({ Container: containerIdOrName, Force: true });
    } catch (err) {
      // 404: the container or the network went away meanwhile.
      if (statusCode(err) !== 404) throw err;
    }
    this.#byAddress.delete(address);
    this.#refusals.forget(address);
    await this.#refreshAfterChange();
  }

  /** A refresh that lists the containers after a change just made (one already running may have listed them before). */
  async #refreshAfterChange(): Promise<void> {
    const running = this.#refreshing;
    if (running) await running.catch(() => undefined);
    await this.refresh();
  }

  /** What the proxy refused for this sandbox at or after `sinceMs` (Date.now()), oldest first. */
  async refusals(containerId: string, sinceMs: number): Promise<EgressRefusal[]> {
    let address: string | undefined;
    try {
      address = (await this.#options.docker.getContainer(containerId).inspect()).NetworkSettings.Networks?.[this.network]?.IPAddress;
    } catch (err) {
      if (statusCode(err) === 404) return [];
      throw err;
    }
    return address ? this.#refusals.since(address, sinceMs) : [];
  }

  /** The proxy's address as sandboxes reach it (http://<gateway>:<port>), once the gateway is set up. */
  async proxyUrl(): Promise<string> {
    return (await this.attach([])).proxyUrl;
  }

  /** Grants of these containers; none when they cannot be read (the proxy then refuses what only a grant allows). */
  async #grantsOf(containerIds: readonly string[]): Promise<readonly EgressGrant[]> {
    if (!this.#grants || containerIds.length === 0) return [];
    try {
      return await this.#grants.forContainers(containerIds);
    } catch (err) {
      this.#options.logger?.warn('cannot read egress grants; only the policies\' allowlists apply', { error: (err as Error).message });
      return [];
    }
  }

  /** Reads the allowlists back from the containers now (after a claim: the new sandbox's first request is served at once). */
  async refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    await this.#refreshing;
  }

  /** Stops the proxy; with `removeNetwork`, also removes the firewall chain and the network (tests, decommissioning). */
  async close(options: { removeNetwork?: boolean } = {}): Promise<void> {
    const attached = await this.#attached?.catch(() => undefined);
    this.#attached = undefined;
    await attached?.proxy.close();
    if (options.removeNetwork) await removeEgressNetwork(this.#options.docker, this.network, { firewall: this.#options.firewall !== 'off' });
  }
}

const NETWORK_PREFIX = 'kortix-egress-';

/** Docker's error when it cannot make a network, saying what frees an address pool where none is left (a retried claim may then succeed). */
function networkCreateError(network: string, err: unknown): unknown {
  const message = (err as Error).message?.trim() ?? String(err);
  if (!/address pool/i.test(message)) return err;
  return new Error(
    `cannot create the egress network ${network}: Docker has no address pool left (${message}); every egress network takes one: ` +
      `remove those of hosts that are gone (\`docker network ls --filter label=${LABELS.managed}\`) or give dockerd more (default-address-pools)`,
  );
}

/** The names a host's egress gear goes by on this machine, all from one tag (a hash of the host's labels). */
function egressNames(tag: string) {
  return { network: `${NETWORK_PREFIX}${tag}`, bridge: `kx-${tag}`, chain: `KORTIX-EGRESS-${tag}` };
}

/**
 * Removes an egress network and its firewall chain, by the network's name: a host's own at its end
 * (`close({ removeNetwork })`), or one whose host is gone for good. Each network takes one of Docker's
 * address pools (31 by default), so networks of hosts that never come back must not pile up.
 */
export async function removeEgressNetwork(docker: Docker, network: string, options: { firewall: boolean }): Promise<void> {
  if (!network.startsWith(NETWORK_PREFIX)) throw new Error(`${network} is not an egress network`);
  const { bridge, chain } = egressNames(network.slice(NETWORK_PREFIX.length));
  if (options.firewall) {
    const ipt = (...args: string[]) => run('iptables', ['-w', ...args]).catch(() => undefined);
    await ipt('-D', 'INPUT', '-i', bridge, '-j', chain);
    await ipt('-F', chain);
    await ipt('-X', chain);
  }
  await docker
    .getNetwork(network)
    .remove()
    .catch((err: unknown) => {
      if (statusCode(err) !== 404) throw err;
    });
}

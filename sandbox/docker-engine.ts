/**
 * The SandboxEngine seam on a real Docker engine (dockerode), plus the exec
 * channels of its containers (sandbox/exec-channel.ts), which the pool opens
 * while a container is idle so that the first command of a session finds one.
 */
import type Docker from 'dockerode';
import { sandboxContainerSpec, workspaceVolumeSpec, type SandboxSpecInput } from './container-spec.js';
import { NameConflictError, type ContainerRecord, type EngineEvent, type SandboxEngine } from './engine.js';
import { ExecChannel } from './exec-channel.js';

/** The HTTP status of a dockerode error, if it has one. */
export function statusCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : undefined;
}

function labelFilter(labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

const EVENT_ACTIONS = new Set<EngineEvent['action']>(['die', 'oom', 'destroy']);

export class DockerEngine implements SandboxEngine {
  readonly docker: Docker;
  readonly #channels = new Map<string, ExecChannel>();
  readonly #opening = new Map<string, Promise<ExecChannel>>();

  /** Also asked by probe() about an idle, answering container: its browser is up (started if not). */
  readonly #probeBrowser: ((id: string) => Promise<boolean>) | undefined;

  constructor(docker: Docker, options: { probeBrowser?: ((id: string) => Promise<boolean>) | undefined } = {}) {
    this.docker = docker;
    this.#probeBrowser = options.probeBrowser;
  }

  async list(labels: Readonly<Record<string, string>>): Promise<ContainerRecord[]> {
    const infos = await this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) } });
    return infos.map((info) => ({
      id: info.Id,
      name: (info.Names[0] ?? '').replace(/^\//, ''),
      labels: info.Labels ?? {},
      running: info.State === 'running',
      createdMs: info.Created * 1000,
    }));
  }

  async find(name: string): Promise<ContainerRecord | undefined> {
    try {
      const info = await this.docker.getContainer(name).inspect();
      // The engine also resolves id prefixes; only the exact name counts.
      if (info.Name !== `/${name}`) return undefined;
      return { id: info.Id, name, labels: info.Config.Labels ?? {}, running: info.State.Running, createdMs: Date.parse(info.Created) };
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async create(spec: SandboxSpecInput): Promise<string> {
    await this.docker.createVolume(workspaceVolumeSpec(spec));
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(sandboxContainerSpec(spec));
    } catch (err) {
      await this.#removeVolume(spec.volumeName);
      if (statusCode(err) === 409) throw new NameConflictError(`a container named ${spec.name} exists`);
      throw err;
    }
    try {
      await container.start();
    } catch (err) {
      await this.remove(container.id).catch(() => false);
      throw err;
    }
    return container.id;
  }

  async rename(from: string, to: string): Promise<boolean> {
    try {
      await this.docker.getContainer(from).rename({ name: to });
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      if (statusCode(err) === 409) throw new NameConflictError(`a container named ${to} exists`);
      throw err;
    }
  }

  async remove(idOrName: string): Promise<boolean> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(idOrName).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
    this.closeChannel(info.Id);
    try {
      await this.docker.getContainer(info.Id).remove({ force: true, v: true });
    } catch (err) {
      // 409: removal already in progress.
      if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
    }
    for (const mount of info.Mounts) {
      if (mount.Type === 'volume' && mount.Name) await this.#removeVolume(mount.Name);
    }
    return true;
  }

  async removeUnusedVolumes(labels: Readonly<Record<string, string>>, owns?: (name: string) => boolean): Promise<number> {
    // One listing: with `owns`, every unused volume (the labelled ones are among them), else only the labelled ones.
    const filters: Record<string, string[]> = owns ? { dangling: ['true'] } : { label: labelFilter(labels), dangling: ['true'] };
    const { Volumes } = await this.docker.listVolumes({ filters });
    const labelled = (v: Docker.VolumeInspectInfo) => Object.entries(labels).every(([k, value]) => v.Labels?.[k] === value);
    // Every volume we create carries labels (workspaceVolumeSpec, and the mount's own options): one of our names
    // without any is what a restarted engine found on its disk, not something of another owner.
    const unlabelledOurs = (v: Docker.VolumeInspectInfo) => owns?.(v.Name) === true && Object.keys(v.Labels ?? {}).length === 0;
    let removed = 0;
    for (const volume of Volumes ?? []) if ((labelled(volume) || unlabelledOurs(volume)) && (await this.#removeVolume(volume.Name))) removed++;
    return removed;
  }

  async #removeVolume(name: string): Promise<boolean> {
    try {
      await this.docker.getVolume(name).remove();
      return true;
    } catch (err) {
      // 404: gone already; 409: still in use (a container being removed), the next sweep takes it.
      if (statusCode(err) === 404 || statusCode(err) === 409) return false;
      throw err;
    }
  }

  async probe(id: string): Promise<boolean> {
    try {
      const channel = await this.channel(id);
      if (channel.busy) return true;
      if (!(await channel.ping())) return false;
      return this.#probeBrowser ? await this.#probeBrowser(id) : true;
    } catch {
      this.closeChannel(id);
      return false;
    }
  }

  async mark(id: string, owner: { sessionId: string; tenantId: string }): Promise<boolean> {
    try {
      return await (await this.channel(id)).claim(owner.sessionId, owner.tenantId);
    } catch {
      this.closeChannel(id);
      return false;
    }
  }

  /** The container's open exec channel, opening one when there is none. Engine errors propagate. */
  async channel(id: string): Promise<ExecChannel> {
    const open = this.#channels.get(id);
    if (open && !open.closed) return open;
    let opening = this.#opening.get(id);
    if (!opening) {
      opening = ExecChannel.open(this.docker, id)
        .then(async (channel) => {
          try {
            await channel.prepare();
          } catch (err) {
            channel.close();
            throw err;
          }
          return channel;
        })
        .finally(() => this.#opening.delete(id));
      this.#opening.set(id, opening);
    }
    const channel = await opening;
    this.#channels.set(id, channel);
    return channel;
  }

  closeChannel(id: string): void {
    this.#channels.get(id)?.close();
    this.#channels.delete(id);
  }

  /** Ends every exec channel (the containers keep running). */
  closeChannels(): void {
    for (const id of [...this.#channels.keys()]) this.closeChannel(id);
  }

  watch(labels: Readonly<Record<string, string>>, onEvent: (event: EngineEvent) => void, onEnd: (err?: Error) => void): () => void {
    let stopped = false;
    let stream: NodeJS.ReadableStream | undefined;
    const end = (err?: Error) => {
      if (stopped) return;
      stopped = true;
      onEnd(err);
    };
    this.docker
      .getEvents({ filters: { type: ['container'], event: [...EVENT_ACTIONS], label: labelFilter(labels) } })
      .then((events) => {
        stream = events;
        if (stopped) {
          (events as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
          return;
        }
        let pending = '';
        events.on('data', (chunk: Buffer) => {
          pending += chunk.toString('utf8');
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.trim()) continue;
            try {
              const e = JSON.parse(line) as { id?: string; Action?: string; Actor?: { ID?: string } };
              const action = e.Action as EngineEvent['action'];
              const containerId = e.Actor?.ID ?? e.id;
              if (containerId && EVENT_ACTIONS.has(action)) onEvent({ containerId, action });
            } catch {
              // not an event line
            }
          }
        });
        events.on('end', () => end());
        events.on('close', () => end());
        events.on('error', (err: Error) => end(err));
      })
      .catch((err: unknown) => end(err as Error));
    return () => {
      stopped = true;
      (stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined)?.destroy?.();
    };
  }
}

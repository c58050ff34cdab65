/**
 * A real Temporal dev server (`temporal server start-dev`) with SQLite
 * persistence, started and stopped from code: used by `make dev` and by the
 * tests, which also restart it on the same file to show sessions survive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/temporal-names.js';

export interface DevServerOptions {
  /** Path of the `temporal` CLI binary (scripts/provision/temporal.sh finds or builds it). */
  readonly cli: string;
  /** SQLite file: the state survives restarts of the server. */
  readonly dbFile: string;
  readonly ip?: string;
  /** gRPC port; 0 picks a free one. */
  readonly port?: number;
  /** Web UI port; 0 picks a free one; `null` runs headless. */
  readonly uiPort?: number | null;
  readonly metricsPort?: number;
  /** The Web UI's remote codec (`--ui-codec-endpoint`): the API's /v1/codec, which decrypts payloads for an authenticated operator. */
  readonly codecEndpoint?: string;
  /** Server output goes here (appended). */
  readonly logFile?: string;
  readonly startTimeoutMs?: number;
  /** More `start-dev` flags (bench/throughput.ts compares SQLite pragmas and dynamic config with them). */
  readonly extraArgs?: readonly string[];
  /** SQLite pragmas of the server's file (default DEV_SQLITE_PRAGMAS; bench/throughput.ts passes [] for the CLI's own). */
  readonly sqlitePragmas?: readonly string[];
  /** `--dynamic-config-value` settings (default DEV_DYNAMIC_CONFIG; bench/throughput.ts compares without eager dispatch). */
  readonly dynamicConfig?: readonly string[];
  /** Environment of the server process on top of this one's and DEV_SERVER_GOGC (bench/throughput.ts's `gogcN`: the Go runtime's GC target). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * - One partition per task queue: with the default four, a task can land on a
 *   partition no poller waits on and be forwarded, adding tens of ms per activity.
 * - Eager activity dispatch: an activity scheduled on the workflow's own queue
 *   (the model call, the event write) comes back with the workflow task's
 *   completion instead of through a matching poll; the SDK asks for it by default
 *   (`allowEagerDispatch`, `maxEagerActivityReservationsPerWorkflowTask` 3), the
 *   server hands it out only with this flag. Floor step with 1 workflow
 *   287 → 67 ms in a one-off run (README, Numbers, for the bench's).
 * - The transfer queue read at its notifications, not paced: every activity task on
 *   another queue and every workflow task reaches matching through the history
 *   shard's transfer queue, whose reader polls the database at most
 *   `history.transferProcessorMaxPollRPS` times a second (default 20, a token bucket
 *   of 20). A cluster spreads its workflows over hundreds of shards; the dev server
 *   has one, so past 20 task dispatches a second every dispatch waited for a token,
 *   up to 50 ms: one session's step overhead p50 128 → 50 ms (README, Numbers).
 *   A read takes whatever tasks are pending (up to 100), so under load reads batch
 *   anyway; the limit only paces reads when there is little to read.
 */
export const DEV_DYNAMIC_CONFIG: readonly string[] = [
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'system.enableActivityEagerExecution=true',
  'history.transferProcessorMaxPollRPS=1000',
];

/**
 * WAL: with SQLite's default rollback journal every read waits on the writer; at 50
 * concurrent sessions on 2 cores the server's reads hit their deadline ("context
 * deadline exceeded": workflow starts refused) and the floor step with 20
 * workflows was 4.4 s p50; with WAL 0.57 s, tool steps/s ×1.9 and half the server's
 * CPU (README, Numbers). synchronous=normal: a WAL file survives a killed server
 * (what the tests do); only an OS crash may lose the last transactions of a dev server.
 */
export const DEV_SQLITE_PRAGMAS: readonly string[] = ['journal_mode=wal', 'synchronous=normal'];

/**
 * The Go runtime's GC target (GOGC) of the dev server's process, where this process's environment sets none: the
 * heap may grow to 5× what is live before a collection, not 2× (Go's 100). At 200 sessions × 20 steps the server's
 * CPU per tool step was ×0.85–1.00 of Go's default in four pairs and its peak RSS ~550 MB, not ~300 (README, "The
 * dev server's Go GC"). A developer's machine has the memory; the server's CPU is the largest share of a step.
 */
export const DEV_SERVER_GOGC = '400';

/** What the dev server's process gets on top of this one's environment: its GOGC (see DEV_SERVER_GOGC), then `extra`. */
export function devServerEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { GOGC: process.env.GOGC || DEV_SERVER_GOGC, ...extra };
}

/** A free TCP port on the loopback interface. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TemporalDevServer {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: DevServerOptions,
    readonly ip: string,
    readonly port: number,
    readonly uiPort: number | null,
    readonly metricsPort: number,
  ) {}

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** `ip:port` for clients and workers. */
  get address(): string {
    return `${this.ip}:${this.port}`;
  }

  get uiUrl(): string | null {
    return this.uiPort === null ? null : `http://${this.ip}:${this.uiPort}`;
  }

  static async start(options: DevServerOptions): Promise<TemporalDevServer> {
    const ip = options.ip ?? '127.0.0.1';
    const port = options.port || (await freePort(ip));
    const uiPort = options.uiPort === null ? null : options.uiPort || (await freePort(ip));
    const metricsPort = options.metricsPort || (await freePort(ip));
    const server = new TemporalDevServer(options, ip, port, uiPort, metricsPort);
    await server.#spawn();
    return server;
  }

  async #spawn(): Promise<void> {
    mkdirSync(dirname(this.options.dbFile), { recursive: true });
    const args = [
      'server',
      'start-dev',
      '--ip',
      this.ip,
      '--port',
      String(this.port),
      '--metrics-port',
      String(this.metricsPort),
      '--db-filename',
      this.options.dbFile,
      '--log-level',
      'warn',
      ...(this.options.dynamicConfig ?? DEV_DYNAMIC_CONFIG).flatMap((v) => ['--dynamic-config-value', v]),
      ...Object.values(SEARCH_ATTRIBUTES).flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
      ...(this.uiPort === null ? ['--headless'] : ['--ui-port', String(this.uiPort)]),
      ...(this.uiPort !== null && this.options.codecEndpoint ? ['--ui-codec-endpoint', this.options.codecEndpoint] : []),
      ...(this.options.sqlitePragmas ?? DEV_SQLITE_PRAGMAS).flatMap((p) => ['--sqlite-pragma', p]),
      ...(this.options.extraArgs ?? []),
    ];
    const env = { ...process.env, ...devServerEnv(this.options.env) };
    const child = spawn(this.options.cli, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    if (this.options.logFile) {
      mkdirSync(dirname(this.options.logFile), { recursive: true });
      const log = createWriteStream(this.options.logFile, { flags: 'a' });
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
    } else {
      child.stdout?.resume();
      child.stderr?.resume();
    }
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let exitCode: number | null = null;
    child.once('exit', (code) => {
      exitCode = code ?? -1;
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      if (exitCode !== null) throw new Error(`temporal server exited with code ${exitCode} (log: ${this.options.logFile ?? 'not kept'})`);
      if (await portOpen(this.ip, this.port)) {
        try {
          const connection = await Connection.connect({ address: this.address, connectTimeout: '2s' });
          try {
            await connection.workflowService.getSystemInfo({});
            return;
          } finally {
            await connection.close();
          }
        } catch {
          // not serving yet
        }
      }
      await sleep(200);
    }
    await this.stop();
    throw new Error(`temporal server did not answer on ${this.address} within ${this.options.startTimeoutMs ?? 60_000} ms`);
  }

  /** Stops the server (SIGTERM, then SIGKILL after 10 s). The SQLite file stays. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(killer);
    this.#child = undefined;
  }

  /** Stops and starts again on the same ports and file. */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }
}

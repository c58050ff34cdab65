/**
 * One process of the cluster (a Temporal service, a Kortix worker host, an API
 * instance, the Web UI): started with its own log file, ready when its probe
 * answers, and stoppable the hard way (SIGKILL, for fault tests) or the
 * graceful way (SIGTERM, then SIGKILL after a grace time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ProcessSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly logFile: string;
  /** Resolves truthy once the process serves (polled until startTimeoutMs). */
  readonly ready: () => Promise<boolean>;
  /** Where it listens, for people: `name  what  address`. */
  readonly listens: readonly string[];
  readonly startTimeoutMs?: number;
  /** SIGTERM waits this long before SIGKILL (a Kortix worker drains activities). */
  readonly stopGraceMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ClusterProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(readonly spec: ProcessSpec) {}

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    const child = this.#child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  async start(): Promise<void> {
    const { spec } = this;
    mkdirSync(dirname(spec.logFile), { recursive: true });
    const log = createWriteStream(spec.logFile, { flags: 'a' });
    log.write(`\n--- ${new Date().toISOString()} start ${spec.command} ${spec.args.join(' ')}\n`);
    const child = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.#child = child;
    let exit: string | undefined;
    this.#exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        exit = signal ?? String(code);
        resolve();
      }),
    );
    const timeoutMs = spec.startTimeoutMs ?? 90_000;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exit !== undefined) throw new Error(`${spec.name} exited (${exit}) before it was ready (log: ${spec.logFile})`);
      if (await spec.ready().catch(() => false)) return;
      await sleep(250);
    }
    await this.kill();
    throw new Error(`${spec.name} was not ready within ${timeoutMs} ms (log: ${spec.logFile})`);
  }

  /** The hard way: no drain, no cleanup (what a crashed machine does). */
  async kill(): Promise<void> {
    if (this.running) this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM, then SIGKILL once the grace time is over. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.#child?.kill('SIGTERM');
    const killer = setTimeout(() => this.#child?.kill('SIGKILL'), this.spec.stopGraceMs ?? 15_000);
    await this.#exited;
    clearTimeout(killer);
  }
}

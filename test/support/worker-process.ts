/** A worker as a separate OS process (temporal/worker-main.ts), to be killed with SIGKILL in fault tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { REPO_ROOT } from '../../config/index.js';

export class WorkerProcess {
  #child: ChildProcess | undefined;
  #healthPort: number | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    private readonly env: Record<string, string>,
    private readonly logFile: string,
    /** Flags of node itself (bench/throughput.ts: `--cpu-prof`, which NODE_OPTIONS refuses). */
    private readonly nodeArgs: readonly string[] = [],
    /** A compiled worker-main.js to run with plain node (bench/compiled-worker.ts), instead of the source under tsx. */
    private readonly compiled?: string,
  ) {}

  /** Starts the process and resolves once its workers poll. */
  async start(timeoutMs = 60_000): Promise<void> {
    // node with tsx's loader, not the tsx CLI: the CLI runs the script in a child
    // process, and SIGKILL of the CLI would leave that child (the real worker) alive.
    const entry = this.compiled ? [this.compiled] : ['--import', 'tsx', 'temporal/worker-main.ts'];
    const child = spawn(process.execPath, [...this.nodeArgs, ...entry], {
      cwd: REPO_ROOT,
      // KORTIX_TEST_WORKER_LOG_LEVEL=debug: the SDK logs each activity attempt's start and end (a bench whose activities stall).
      env: { ...process.env, ...this.env, LOG_LEVEL: process.env.KORTIX_TEST_WORKER_LOG_LEVEL ?? 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exited = new Promise((r) => child.once('exit', (code) => r(code)));
    const log = createWriteStream(this.logFile, { flags: 'a' });
    child.stderr?.pipe(log);
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not start within ${timeoutMs} ms (log: ${this.logFile})`)), timeoutMs);
      let buffered = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        log.write(chunk);
        buffered += chunk.toString('utf8');
        if (buffered.includes('"msg":"worker started"')) {
          clearTimeout(timer);
          const port = /"healthPort":(\d+)/.exec(buffered)?.[1];
          this.#healthPort = port ? Number(port) : undefined;
          buffered = '';
          resolveStart();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited with ${code} before starting (log: ${this.logFile})`));
      });
    });
  }

  /** The process id while it runs (bench/throughput.ts samples its RSS and CPU). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Where its /healthz, /readyz and /metrics answer (observability/health-server.ts), once started. */
  get healthPort(): number | undefined {
    return this.#healthPort;
  }

  /** The hard way: no drain, no cleanup. */
  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  /** The graceful way: SIGTERM, in-flight activities finish. */
  async stop(): Promise<number | null> {
    if (!this.#child || this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#child?.exitCode ?? null;
    this.#child.kill('SIGTERM');
    return this.#exited;
  }
}

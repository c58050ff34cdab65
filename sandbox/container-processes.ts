/**
 * What runs in a sandbox besides the pool's own processes: a session whose
 * sandbox still runs something it started (a server in the background, a
 * browser) keeps it, because parking (workflows/session-park.ts) removes the
 * container. Read from the engine (`docker top`), so nothing in the sandbox
 * is asked or trusted; host pids, one row each.
 */
import type Docker from 'dockerode';
import { SANDBOX_INIT } from './container-spec.js';

export interface ContainerProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly args: string;
}

/** The idle loop's sleep (SANDBOX_INIT): `sleep 86400` as a child of the container's init. */
const INIT_SLEEP = 'sleep 86400';
/** argv[0] of the exec channel's dispatcher (sandbox/exec-channel.ts). */
const CHANNEL = 'kortix-channel';

/**
 * The processes that are not the pool's: not the init (SANDBOX_INIT) and its sleep, not an exec channel's
 * dispatcher or anything under it. Anything a command left running (reparented to the init when its shell
 * ended) is here, with its arguments cut to 120 characters.
 */
export function strayProcesses(processes: readonly ContainerProcess[]): ContainerProcess[] {
  const pids = new Set(processes.map((p) => p.pid));
  const children = new Map<number, ContainerProcess[]>();
  for (const p of processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const ours = new Set<number>();
  const adopt = (p: ContainerProcess) => {
    ours.add(p.pid);
    for (const c of children.get(p.pid) ?? []) adopt(c);
  };
  for (const root of processes.filter((p) => !pids.has(p.ppid))) {
    if (root.args.includes(SANDBOX_INIT.slice(0, 40))) {
      ours.add(root.pid);
      // One sleep at a time: a second `sleep 86400` under the init is a process dressed up as the idle loop's.
      const sleep = (children.get(root.pid) ?? []).find((c) => c.args.trim() === INIT_SLEEP);
      if (sleep) ours.add(sleep.pid);
    } else if (root.args.split(/\s+/).includes(CHANNEL)) adopt(root);
  }
  return processes.filter((p) => !ours.has(p.pid)).map((p) => ({ ...p, args: p.args.slice(0, 120) }));
}

/** The container's processes as the engine lists them (`ps -o pid,ppid,args` from the host). */
export async function containerProcesses(docker: Docker, container: string): Promise<ContainerProcess[]> {
  const top = (await docker.getContainer(container).top({ ps_args: '-o pid,ppid,args' })) as { Titles?: string[]; Processes?: string[][] };
  const titles = top.Titles ?? [];
  const at = (name: string) => titles.findIndex((t) => t.trim().toUpperCase() === name);
  const [pid, ppid, args] = [at('PID'), at('PPID'), at('COMMAND')];
  return (top.Processes ?? []).map((row) => ({ pid: Number(row[pid]), ppid: Number(row[ppid]), args: args >= 0 ? String(row[args]) : '' }));
}

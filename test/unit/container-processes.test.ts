/**
 * Which processes of a sandbox are not the pool's own (sandbox/container-processes.ts): what keeps a
 * sandbox from being parked. Rows as `docker top -o pid,ppid,args` gives them (host pids).
 */
import { describe, expect, it } from 'vitest';
import { SANDBOX_INIT } from '../../sandbox/container-spec.js';
import { strayProcesses, type ContainerProcess } from '../../sandbox/container-processes.js';

const init: ContainerProcess = { pid: 100, ppid: 90, args: `bash -c ${SANDBOX_INIT}` };
const sleep: ContainerProcess = { pid: 101, ppid: 100, args: 'sleep 86400' };
const channel: ContainerProcess = { pid: 200, ppid: 95, args: 'bash -c marker=$2 ... kortix-channel #!/usr/bin/env bash _abc' };
const idle = [init, sleep, channel];

describe('strayProcesses', () => {
  it('finds none in an idle sandbox, nor under a busy exec channel', () => {
    expect(strayProcesses(idle)).toEqual([]);
    expect(strayProcesses([...idle, { pid: 201, ppid: 200, args: 'bash -c kortix-exec' }, { pid: 202, ppid: 201, args: 'make test' }])).toEqual([]);
  });

  it('finds a background process its shell left to the init', () => {
    expect(strayProcesses([...idle, { pid: 300, ppid: 100, args: 'sleep 300' }])).toEqual([{ pid: 300, ppid: 100, args: 'sleep 300' }]);
  });

  it('finds a second idle-loop sleep (a process dressed up as the init\'s) and a browser started by another exec', () => {
    const disguised = { pid: 301, ppid: 100, args: 'sleep 86400' };
    const browser = { pid: 400, ppid: 96, args: 'python3 /opt/kortix/browser-host.py' };
    const chromium = { pid: 401, ppid: 400, args: 'chromium --headless' };
    expect(strayProcesses([...idle, disguised, browser, chromium]).map((p) => p.pid)).toEqual([301, 400, 401]);
  });

  it('cuts long arguments', () => {
    const [stray] = strayProcesses([...idle, { pid: 500, ppid: 100, args: `node ${'x'.repeat(500)}` }]);
    expect(stray?.args).toHaveLength(120);
  });
});

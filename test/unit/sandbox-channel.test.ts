/**
 * The exec channel's protocol, end to end on this machine: the real
 * dispatcher (sandbox/dispatcher.sh) under a local bash, with a stand-in for
 * exec.sh that prints what it received. Escaping, environment, framing of
 * answers, one request at a time, and a dispatcher that dies.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { DISPATCHER_SCRIPT, ExecChannel, ExecChannelError, encodeField } from '../../sandbox/exec-channel.js';

// Prints its arguments and one variable, NUL-separated, like exec.sh would print a framed result.
const ECHO_SCRIPT = 'printf "%s\\0" "$1" "$2" "$3" "$4" "${KORTIX_X-unset}"; [ "$4" = fail ] && exit 7; [ "$4" = slow ] && sleep 5; exit 0';

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function localChannel(script = ECHO_SCRIPT): { channel: ExecChannel; child: ChildProcessWithoutNullStreams } {
  const marker = ExecChannel.marker();
  const child = spawn('bash', ['-c', DISPATCHER_SCRIPT, 'kortix-channel', script, marker]);
  children.push(child);
  const channel = new ExecChannel({ stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, events: child, destroy: () => child.kill('SIGKILL') }, marker);
  return { channel, child };
}

const request = (command: string, env: Record<string, string> = {}) => ({ key: 'abc123', command, timeoutSeconds: 9, limitBytes: 100, env });

function fields(stdout: Buffer): string[] {
  return stdout.toString('utf8').split('\0').slice(0, -1);
}

describe('encodeField', () => {
  it('escapes only what bash would split or interpret, and always starts with _', () => {
    expect(encodeField('')).toBe('_');
    expect(encodeField('ls -la')).toBe('_ls\\x20-la');
    expect(encodeField('a\\b\nc\td\x7f')).toBe('_a\\x5cb\\x0ac\\x09d\\x7f');
    expect(encodeField('héllo 😀')).toBe('_héllo\\x20😀');
  });
});

describe('the dispatcher and the channel', () => {
  it('hands exec.sh the key, timeout, limit and command exactly, with the environment', async () => {
    const { channel } = localChannel();
    const nasty = `echo "it's" \\n $HOME; printf '%s\\n' a\tb | cat -A  # é 😀 \\x41 \\c \\0101`;
    const reply = await channel.run(request(nasty, { KORTIX_X: 'two words = fine' }));
    expect(reply.exitCode).toBe(0);
    expect(fields(reply.stdout)).toEqual(['abc123', '9', '100', nasty, 'two words = fine']);
  });

  it('answers one request after the other on the same process, with their exit statuses', async () => {
    const { channel, child } = localChannel();
    const first = await channel.run(request('fail'));
    const second = await channel.run(request('second'));
    expect(first.exitCode).toBe(7);
    expect(fields(second.stdout)[3]).toBe('second');
    expect(fields(second.stdout)[4]).toBe('unset');
    expect(child.exitCode).toBeNull();
  });

  it('answers a ping without running anything, queued behind a request in flight', async () => {
    const { channel } = localChannel('sleep 0.2; exit 1');
    const running = channel.run(request('x'));
    const ping = channel.ping();
    expect(channel.busy).toBe(true);
    expect((await running).exitCode).toBe(1);
    // No claim record on this machine's /tmp: "not claimed".
    await expect(ping).resolves.toBe(true);
  });

  it('refuses a second request while one runs: the caller uses a one-shot exec instead', async () => {
    const { channel } = localChannel();
    const slow = channel.run(request('slow'));
    expect(channel.busy).toBe(true);
    await expect(channel.run(request('other'))).rejects.toThrow(ExecChannelError);
    channel.close();
    await expect(slow).rejects.toThrow(/closed/);
  });

  it('fails the request in flight when the dispatcher dies, and stays closed', async () => {
    const { channel, child } = localChannel();
    const slow = channel.run(request('slow'));
    child.kill('SIGKILL');
    await expect(slow).rejects.toThrow(ExecChannelError);
    expect(channel.closed).toBe(true);
    await expect(channel.ping()).rejects.toThrow(/closed/);
  });

  it('ends the conversation at once when the caller aborts (deadline, cancelled activity)', async () => {
    const { channel, child } = localChannel();
    const abort = new AbortController();
    const slow = channel.run(request('slow'), abort.signal);
    const started = Date.now();
    abort.abort();
    await expect(slow).rejects.toThrow(/aborted/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(channel.closed).toBe(true);
    if (child.signalCode === null && child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('gives up on output larger than exec.sh could print (a command flooding the pipe)', async () => {
    const { channel } = localChannel('head -c 100000 /dev/zero');
    await expect(channel.run(request('x'))).rejects.toThrow(/more output/);
  });
});

describe('ExecChannel.open', () => {
  /** An engine whose exec create and start answer (or never answer, honouring only the abort signal) as told. */
  function engine(answers: { create: boolean; start: boolean }) {
    const signals: AbortSignal[] = [];
    const hang = (signal: AbortSignal) =>
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('request aborted')), { once: true }));
    const stream = new PassThrough();
    const docker = {
      modem: { demuxStream: () => undefined },
      getContainer: () => ({
        exec: async (options: { abortSignal: AbortSignal }) => {
          signals.push(options.abortSignal);
          if (!answers.create) return hang(options.abortSignal);
          return {
            start: async (startOptions: { abortSignal: AbortSignal }) => {
              signals.push(startOptions.abortSignal);
              return answers.start ? stream : hang(startOptions.abortSignal);
            },
          };
        },
      }),
    } as unknown as Docker;
    return { docker, signals, stream };
  }

  it.each([
    ['creating the exec', { create: false, start: true }],
    ['starting it attached', { create: true, start: false }],
  ])('fails with ExecChannelError when the engine hangs %s, instead of waiting forever', async (_, answers) => {
    const { docker, signals } = engine(answers);
    const opened = ExecChannel.open(docker, 'c1', 50);
    await expect(opened).rejects.toBeInstanceOf(ExecChannelError);
    await expect(opened).rejects.toThrow('no exec channel within 50 ms');
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('never aborts the requests of a channel it opened: that would end its connection', async () => {
    const { docker, signals, stream } = engine({ create: true, start: true });
    const channel = await ExecChannel.open(docker, 'c1', 50);
    await new Promise((r) => setTimeout(r, 120));
    expect(signals).toHaveLength(2);
    expect(signals.some((s) => s.aborted)).toBe(false);
    expect(channel.closed).toBe(false);
    stream.destroy();
  });
});

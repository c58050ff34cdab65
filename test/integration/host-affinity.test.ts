/**
 * Host affinity with two worker processes on this machine, each with its own
 * warm pool and its own sandbox queue. A session's tools run on the worker
 * that holds its sandbox; when that worker is killed (SIGKILL), the session
 * notices (the host's queue has no poller: schedule-to-start timeout, also
 * after a heartbeat timeout mid-command), claims a new sandbox on the other
 * worker, and goes on. The user sees `sandbox.lost` on the event stream; the
 * model reads in the tool result that the sandbox was replaced and its files
 * are gone.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { LABELS } from '../../sandbox/container-spec.js';
import { readAllEvents, startSession, toolResults, waitForStatus, type SessionJson, type SseEvent } from '../support/sessions.js';
import { docker, startStack, waitFor, type Stack } from '../support/stack.js';
import { WorkerProcess } from '../support/worker-process.js';

const services = inject('services');
const hostA = `affinity-a-${randomUUID().slice(0, 6)}`;
const hostB = `affinity-b-${randomUUID().slice(0, 6)}`;
let stack: Stack;
let mock: MockLlmServer;
let workerA: WorkerProcess;
let workerB: WorkerProcess;
let healthPortB: number;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const shell = (command: string) => ({ tool_calls: [{ name: 'shell', arguments: { command } }] });

beforeAll(async () => {
  mock = await startMockLlm({
    scenarios: [
      { name: 'affinity-write', match: '^affinity: write', turns: [shell('echo kept > /workspace/keep.txt && echo written'), { content: 'written' }] },
      { name: 'affinity-read', match: '^affinity: read', turns: [shell('cat /workspace/keep.txt'), { content: '{{tool}}' }] },
      { name: 'affinity-slow', match: '^affinity: slow', turns: [shell('sleep 6 && echo slept'), { content: '{{tool}}' }] },
    ],
  });
  stack = await startStack(services, {
    workers: false,
    env: { MOCK_LLM_URL: mock.url },
    tuning: { heartbeatTimeoutMs: 3_000, sandboxScheduleToStartMs: 4_000 },
  });
  workerA = new WorkerProcess({ ...stack.env, WORKER_HOST_ID: hostA }, join(services.tmpDir, `${hostA}.log`));
  healthPortB = await freePort();
  workerB = new WorkerProcess({ ...stack.env, WORKER_HOST_ID: hostB, WORKER_HEALTH_PORT: String(healthPortB) }, join(services.tmpDir, `${hostB}.log`));
});
afterAll(async () => {
  await workerA?.kill();
  await workerB?.kill();
  await stack?.close();
  await mock?.close();
});

async function events(id: string): Promise<SseEvent[]> {
  const rows = await stack.db.selectFrom('session_events').select(['seq', 'type', 'data']).where('session_id', '=', id).orderBy('seq').execute();
  return rows.map((r) => ({ id: Number(r.seq), type: r.type, data: r.data as Record<string, unknown> }));
}

/** Where the session's sandbox is now, by the last `sandbox.claimed` event. */
async function sandboxHost(id: string): Promise<string | undefined> {
  return (await events(id)).filter((e) => e.type === 'sandbox.claimed').at(-1)?.data.hostId as string | undefined;
}

async function say(id: string, content: string): Promise<void> {
  const res = await stack.api('POST', `/v1/sessions/${id}/messages`, 'alice', { content });
  expect(res.status).toBeLessThan(300);
}

const idleAnswer = (id: string, answer: string) =>
  waitFor(async () => {
    const row = await stack.db.selectFrom('messages').select(['content']).where('session_id', '=', id).where('role', '=', 'assistant').orderBy('seq', 'desc').executeTakeFirst();
    return row?.content === answer;
  }, 60_000, `session ${id} to answer "${answer}"`);

const poolOf = async (hostId: string) =>
  docker.listContainers({ filters: { label: [`${LABELS.pool}=${stack.config.TASK_QUEUE_PREFIX}`, `${LABELS.host}=${hostId}`] } });

describe('two workers, each with its own pool', () => {
  let held: SessionJson;
  let busy: SessionJson;

  it('runs a session on the worker that claimed its sandbox', async () => {
    await workerA.start();
    // Only A runs: both sessions claim their sandboxes there.
    held = await startSession(stack, { message: 'affinity: write the file', idleTimeoutSeconds: 600 });
    busy = await startSession(stack, { message: 'affinity: write the file too', idleTimeoutSeconds: 600 });
    await idleAnswer(held.id, 'written');
    await idleAnswer(busy.id, 'written');
    expect(await sandboxHost(held.id)).toBe(hostA);
    expect(await sandboxHost(busy.id)).toBe(hostA);

    await workerB.start();
    await waitFor(async () => (await poolOf(hostB)).length >= stack.config.SANDBOX_POOL_MIN_IDLE, 30_000, "B's pool to fill");
    const namesA = (await poolOf(hostA)).map((c) => c.Names[0]);
    const namesB = (await poolOf(hostB)).map((c) => c.Names[0]);
    expect(namesA.filter((n) => n?.includes('-s-ses_'))).toHaveLength(2);
    expect(namesB.filter((n) => n?.includes('-idle-')).length).toBeGreaterThanOrEqual(1);
    expect(namesA.some((n) => namesB.includes(n))).toBe(false);
  });

  it('when that worker is killed mid-command, the command runs again on the other one, and the model is told', async () => {
    await say(busy.id, 'affinity: slow command');
    await waitFor(async () => (await events(busy.id)).filter((e) => e.type === 'tool.started').length === 2, 30_000, 'the slow command to start on A');
    await workerA.kill();

    const done = await waitFor(async () => {
      const rows = await toolResults(stack, busy.id);
      return rows.length === 2 ? rows[1] : undefined;
    }, 90_000, 'the slow command to finish elsewhere');
    expect(done).toMatchObject({ ok: true, stdout: 'slept\n', sandbox_replaced: true });
    expect(String(done.notice)).toMatch(new RegExp(`lost \\(its host ${hostA} stopped answering\\).*claimed on host ${hostB}.*Files, processes and environment of the old sandbox are gone`));
    expect(await sandboxHost(busy.id)).toBe(hostB);
    // Noticed by the heartbeat timeout, then the retry waited on A's queue in vain.
    expect((await events(busy.id)).find((e) => e.type === 'sandbox.lost')?.data).toMatchObject({ hostId: hostA, reason: 'host unreachable' });
  });

  it('when that worker is gone between steps, the next tool call finds a new sandbox elsewhere, without the old files', async () => {
    await say(held.id, 'affinity: read the file back');
    const result = await waitFor(async () => {
      const rows = await toolResults(stack, held.id);
      return rows.length === 2 ? rows[1] : undefined;
    }, 90_000, 'the read to run elsewhere');
    expect(result).toMatchObject({ ok: false, exit_code: 1, sandbox_replaced: true });
    expect(String(result.stderr)).toMatch(/No such file/);

    // The model saw it: its answer repeats the tool result, notice included.
    await waitFor(async () => {
      const row = await stack.db.selectFrom('messages').select(['content']).where('session_id', '=', held.id).where('role', '=', 'assistant').orderBy('seq', 'desc').executeTakeFirst();
      return row?.content?.includes('sandbox_replaced');
    }, 30_000, 'the model to answer with the notice');

    // The user saw it on the event stream: the loss, then the new claim on B, then the result.
    await stack.api('POST', `/v1/sessions/${held.id}/cancel`, 'alice', {});
    await waitForStatus(stack, held.id, undefined, 60_000);
    const stream = await readAllEvents(stack, held.id);
    const types = stream.map((e) => e.type);
    const lost = stream.find((e) => e.type === 'sandbox.lost');
    expect(lost?.data).toMatchObject({ hostId: hostA, reason: 'host unreachable' });
    const claims = stream.filter((e) => e.type === 'sandbox.claimed');
    expect(claims.map((c) => c.data.hostId)).toEqual([hostA, hostB]);
    expect(types.indexOf('sandbox.lost')).toBeLessThan(types.lastIndexOf('sandbox.claimed'));
    expect(types.lastIndexOf('sandbox.claimed')).toBeLessThan(types.lastIndexOf('tool.result'));
    // Released on B at the end; A's container is left to A (gone with it), B's is destroyed.
    await waitFor(async () => (await poolOf(hostB)).every((c) => !c.Names[0]?.includes(held.id)), 30_000, "B's sandbox of the session to be released");
  });

  it("shows B's pool on its /metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${healthPortB}/metrics`)).text();
    const value = (name: string, label = '') => Number(text.split('\n').find((l) => l.startsWith(name) && l.includes(label))?.split(' ').at(-1));
    expect(value('sandbox_pool_idle')).toBeGreaterThanOrEqual(0);
    expect(value('sandbox_pool_in_use')).toBeGreaterThanOrEqual(1);
    expect(value('sandbox_claim_seconds_count', 'result="hit"')).toBeGreaterThanOrEqual(2);
    expect(value('container_start_time_seconds_count')).toBeGreaterThanOrEqual(stack.config.SANDBOX_POOL_MIN_IDLE);
    expect(value('sandbox_exec_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(text).toContain('sandbox_oom_kills_total');
  });
});

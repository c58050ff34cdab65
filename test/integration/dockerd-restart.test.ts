/**
 * A restarted Docker daemon is survived: the engine is really stopped
 * (every container with it) and started again; the worker's pool rebuilds
 * its state from Docker, refills, and a session whose sandbox died with the
 * daemon claims a new one at its next tool call and tells the model.
 *
 * Runs only as root, with a dockerd this machine runs itself (as on CI and
 * `make dev` here): it never restarts a daemon under a service manager.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { LABELS } from '../../sandbox/container-spec.js';
import { provision } from '../../scripts/lib/provision.js';
import { startSession, toolResults } from '../support/sessions.js';
import { docker, startStack, waitFor, type Stack } from '../support/stack.js';

const services = inject('services');
const managedBySystemd = existsSync('/run/systemd/system');
const canRestart = process.getuid?.() === 0 && !managedBySystemd;

let stack: Stack;
let mock: MockLlmServer;

const shell = (command: string) => ({ tool_calls: [{ name: 'shell', arguments: { command } }] });

beforeAll(async () => {
  if (!canRestart) return;
  mock = await startMockLlm({
    scenarios: [
      { name: 'dr-write', match: '^dr: write', turns: [shell('echo kept > /workspace/keep.txt && echo written'), { content: 'written' }] },
      { name: 'dr-read', match: '^dr: read', turns: [shell('cat /workspace/keep.txt 2>&1 || echo missing'), { content: '{{tool}}' }] },
    ],
  });
  stack = await startStack(services, { env: { MOCK_LLM_URL: mock.url, SANDBOX_POOL_MIN_IDLE: '2', SANDBOX_POOL_HEALTH_INTERVAL: '2s' } });
});
afterAll(async () => {
  // Whatever happened, leave a running engine behind for the next test file.
  if (canRestart) await provision('docker', [], { ...process.env, SKIP_SANDBOX_IMAGE: '1' }).catch(() => {});
  await stack?.close();
  await mock?.close();
});

const poolContainers = async () =>
  docker.listContainers({ all: true, filters: { label: [`${LABELS.pool}=${stack.config.TASK_QUEUE_PREFIX}`] } });

const lastAnswer = (id: string) =>
  stack.db.selectFrom('messages').select(['content']).where('session_id', '=', id).where('role', '=', 'assistant').orderBy('seq', 'desc').executeTakeFirst();

describe.skipIf(!canRestart)('the Docker daemon restarted under a running worker', () => {
  it('the pool rebuilds from Docker and the session goes on in a new sandbox', async () => {
    const session = await startSession(stack, { message: 'dr: write the file', idleTimeoutSeconds: 600 });
    await waitFor(async () => (await lastAnswer(session.id))?.content === 'written', 60_000, 'the first answer');
    await waitFor(async () => (await poolContainers()).filter((c) => c.State === 'running').length >= 3, 30_000, 'the pool to fill');
    const before = new Set((await poolContainers()).map((c) => c.Id));
    // What the engine left behind in CI runs: a workspace volume of the pool listed again after the restart without
    // its metadata (no labels, no options), as for a volume created or removed while the engine went down.
    const idleName = (await poolContainers()).map((c) => c.Names[0]?.replace(/^\//, '') ?? '').find((n) => n.includes('-idle-')) ?? '';
    expect(idleName).toContain('-idle-');
    const lost = `${idleName.slice(0, idleName.indexOf('-idle-'))}-idle-lost-ws-abc123`;
    await docker.createVolume({ Name: lost });

    // Stop the engine for real: every container stops with it (no live-restore here).
    execFileSync('pkill', ['-TERM', '-x', 'dockerd']);
    await waitFor(() => {
      try {
        execFileSync('pgrep', ['-x', 'dockerd']);
        return false;
      } catch {
        return true; // pgrep exits 1: no dockerd process left
      }
    }, 90_000, 'dockerd to exit');
    await provision('docker', [], { ...process.env, SKIP_SANDBOX_IMAGE: '1' });

    // The pool notices (its event stream ended), removes what died and refills with new containers.
    await waitFor(
      async () => {
        const now = await poolContainers();
        const fresh = now.filter((c) => c.State === 'running' && !before.has(c.Id));
        const dead = now.filter((c) => c.State !== 'running' && before.has(c.Id) && c.Names[0]?.includes('-idle-'));
        return fresh.length >= 2 && dead.length === 0;
      },
      90_000,
      'the pool to rebuild after the restart',
    );

    // The pool's sweep after the restart took it (nothing else knows it: it has no labels).
    await waitFor(async () => !(await docker.listVolumes()).Volumes?.some((v) => v.Name === lost), 30_000, 'the lost volume to be removed');

    // The session's sandbox died with the daemon: its next tool call gets a new one, without the old files.
    const res = await stack.api('POST', `/v1/sessions/${session.id}/messages`, 'alice', { content: 'dr: read the file' });
    expect(res.status).toBe(202);
    const result = await waitFor(async () => {
      const rows = await toolResults(stack, session.id);
      return rows.length === 2 ? rows[1] : undefined;
    }, 90_000, 'the second tool call');
    expect(result).toMatchObject({ ok: true, sandbox_replaced: true });
    expect(String(result.stdout)).toContain('missing');
    const events = await stack.db.selectFrom('session_events').select(['type', 'data']).where('session_id', '=', session.id).orderBy('seq').execute();
    expect(events.find((e) => e.type === 'sandbox.lost')?.data).toMatchObject({ reason: 'container gone' });
    await stack.api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', {});
  });
});

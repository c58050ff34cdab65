/**
 * The production shape, proven: Temporal on Postgres as four service processes,
 * two Kortix worker hosts and two API instances (temporal/cluster/), and
 * sessions that complete while a worker host is SIGKILLed (its sessions move:
 * `sandbox.lost`), while the history service is SIGKILLed and started again,
 * and while an API instance is stopped. Each tool runs once, and no container
 * holding a session is left behind.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import proto from '@temporalio/proto';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { DevKeyring } from '../../temporal/codec/keyring.js';
import { SEARCH_ATTRIBUTES } from '../../domain/temporal-names.js';
import { withDatabase } from '../../temporal/cluster/temporal.js';
import { readAllEvents, startSession, toolResults, waitForStatus, type SseEvent } from '../support/sessions.js';
import { docker, waitFor } from '../support/stack.js';
import { startClusterStack, type ClusterStack } from './cluster-stack.js';

const run = promisify(execFile);
let stack: ClusterStack;
const images: string[] = [];
const containers: string[] = [];
const shell = (command: string) => ({ tool_calls: [{ name: 'shell', arguments: { command } }] });

beforeAll(async () => {
  stack = await startClusterStack({
    scenarios: [
      // Appends a line and prints the file: one line means the command ran once in that sandbox.
      { name: 'cluster-write', match: '^cluster: write', turns: [shell('echo once >> /workspace/keep.txt && cat /workspace/keep.txt'), { content: '{{tool.stdout}}' }] },
      { name: 'cluster-read', match: '^cluster: read', turns: [shell('cat /workspace/keep.txt; echo read'), { content: '{{tool}}' }] },
    ],
  });
}, 600_000);
afterAll(async () => {
  for (const name of containers) await docker.getContainer(name).remove({ force: true }).catch(() => {});
  for (const image of images) await docker.getImage(image).remove({ force: true }).catch(() => {});
  await stack?.close();
});

async function events(id: string): Promise<SseEvent[]> {
  const rows = await stack.db.selectFrom('session_events').select(['seq', 'type', 'data']).where('session_id', '=', id).orderBy('seq').execute();
  return rows.map((r) => ({ id: Number(r.seq), type: r.type, data: r.data as Record<string, unknown> }));
}

const claimedOn = async (id: string) => (await events(id)).filter((e) => e.type === 'sandbox.claimed').at(-1)?.data.hostId as string | undefined;

/** Each event once, numbered 1..n, one end; every tool started once and answered once. */
async function expectCleanRun(api: ReturnType<ClusterStack['apiOf']>, id: string): Promise<SseEvent[]> {
  const stream = await readAllEvents(api, id);
  expect(stream.map((e) => e.id)).toEqual(stream.map((_, i) => i + 1));
  expect(stream.filter((e) => e.type === 'session.ended')).toHaveLength(1);
  expect(stream.filter((e) => e.type === 'tool.started').length).toBe(stream.filter((e) => e.type === 'tool.result').length);
  return stream;
}

describe('the cluster', () => {
  it('runs each Temporal service as its own process on Postgres, with the namespace, search attributes and a read-only UI', async () => {
    const pids = Object.values(stack.cluster.temporal).map((p) => p.pid);
    expect(new Set(pids).size).toBe(4);
    expect(stack.cluster.workers).toHaveLength(2);
    expect(stack.cluster.apis).toHaveLength(2);

    // The schema tool recorded the server's schema version in both databases.
    const admin = new URL(stack.cluster.databaseUrl);
    for (const database of [`temporal_${stack.prefix}`, `temporal_visibility_${stack.prefix}`]) {
      const client = new pg.Client({ connectionString: withDatabase(admin.toString(), database) });
      await client.connect();
      const { rows } = await client.query<{ curr_version: string }>('select curr_version from schema_version');
      await client.end();
      expect(rows[0]?.curr_version).toMatch(/^\d+\.\d+$/);
    }

    const connection = await Connection.connect({ address: stack.cluster.frontendAddress });
    const attributes = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    await connection.close();
    const keyword = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    for (const name of Object.values(SEARCH_ATTRIBUTES)) expect(attributes.customAttributes?.[name]).toBe(keyword);

    expect(stack.cluster.ui, 'the Web UI server (scripts/provision/temporal-server.sh)').toBeDefined();
    const settings = (await (await fetch(`http://127.0.0.1:${stack.cluster.layout.ui}/api/v1/settings`)).json()) as Record<string, unknown>;
    expect(settings).toMatchObject({ DisableWriteActions: true, WorkflowTerminateDisabled: true, StartWorkflowDisabled: true });
  });

  it('a session started on one API instance is served by the other', async () => {
    const session = await startSession(stack.apiOf(0), { message: 'cluster: write a line', idleTimeoutSeconds: 600 });
    await waitFor(async () => (await toolResults(stack, session.id)).length === 1, 90_000, 'the first tool result');
    expect((await toolResults(stack, session.id))[0]).toMatchObject({ ok: true, stdout: 'once\n' });
    const seen = await (await stack.apiOf(1).api('GET', `/v1/sessions/${session.id}`)).json();
    expect(seen).toMatchObject({ id: session.id });
    await stack.apiOf(1).api('POST', `/v1/sessions/${session.id}/cancel`, 'alice', {});
    await waitForStatus(stack.apiOf(1), session.id, undefined, 60_000);
  });
});

describe('faults', () => {
  it('a worker host SIGKILLed: its sessions move to the other host (sandbox.lost), each tool runs once', async () => {
    const sessions = await Promise.all([0, 1, 2, 3].map((i) => startSession(stack.apiOf(i % 2), { message: `cluster: write ${i}`, idleTimeoutSeconds: 600 })));
    for (const s of sessions) await waitFor(async () => (await toolResults(stack, s.id)).length === 1, 90_000, `${s.id}'s first tool`);
    const hosts = await Promise.all(sessions.map((s) => claimedOn(s.id)));
    // The host most sessions sit on goes.
    const victimHost = [...new Set(hosts)].sort((a, b) => hosts.filter((h) => h === b).length - hosts.filter((h) => h === a).length)[0] as string;
    const victim = stack.cluster.workers.find((w) => w.name === `worker-${victimHost}`);
    expect(victim, `the worker process of ${victimHost}`).toBeDefined();
    await victim?.kill();

    for (const s of sessions) {
      const res = await stack.apiOf(1).api('POST', `/v1/sessions/${s.id}/messages`, 'alice', { content: 'cluster: read it back' });
      expect(res.status).toBeLessThan(300);
    }
    for (const [i, s] of sessions.entries()) {
      const second = await waitFor(async () => (await toolResults(stack, s.id))[1], 90_000, `${s.id}'s second tool`);
      if (hosts[i] === victimHost) {
        // A new sandbox elsewhere: the file written on the dead host is gone, and the model is told.
        expect(second).toMatchObject({ sandbox_replaced: true, stdout: 'read\n' });
        expect((await events(s.id)).find((e) => e.type === 'sandbox.lost')?.data).toMatchObject({ hostId: victimHost, reason: 'host unreachable' });
        expect(await claimedOn(s.id)).not.toBe(victimHost);
      } else {
        expect(second).toMatchObject({ ok: true, stdout: 'once\nread\n' });
        expect(second.sandbox_replaced).toBeUndefined();
      }
      await stack.apiOf(0).api('POST', `/v1/sessions/${s.id}/cancel`, 'alice', {});
      await waitForStatus(stack.apiOf(0), s.id, undefined, 60_000);
      const stream = await expectCleanRun(stack.apiOf(0), s.id);
      expect(stream.filter((e) => e.type === 'tool.started')).toHaveLength(2);
    }
    // The host comes back under its id: its pool rebuild removes the sandboxes no session holds any more.
    await victim?.start();
  });

  it('the history service SIGKILLed mid-tool and started again: sessions complete, the tool ran once', async () => {
    const sessions = await Promise.all([0, 1].map((i) => startSession(stack.apiOf(i), { message: 'go', metadata: { scenario: 'slow-tool' } })));
    for (const s of sessions) await waitFor(async () => (await events(s.id)).some((e) => e.type === 'tool.started'), 60_000, `${s.id}'s tool to start`);
    const history = stack.cluster.temporal.history;
    const before = history.pid;
    await history.kill();
    await new Promise((r) => setTimeout(r, 2_000));
    await history.start();
    expect(history.pid).not.toBe(before);

    for (const [i, s] of sessions.entries()) {
      const done = await waitForStatus(stack.apiOf(i), s.id, undefined, 120_000);
      expect(done.status).toBe('completed');
      // The command appends to a log and prints it: one line, one run.
      expect(done.finalAnswer).toBe('slept\n');
      const stream = await expectCleanRun(stack.apiOf(i), s.id);
      expect(stream.filter((e) => e.type === 'tool.started')).toHaveLength(1);
    }
  });

  it('an API instance stopped: sessions go on and are reached through the other; the tool ran once', async () => {
    const [first, second] = stack.cluster.apis;
    const session = await startSession(stack.apiOf(0), { message: 'go', metadata: { scenario: 'slow-model' } });
    await first?.stop();
    await expect(stack.apiOf(0).api('GET', `/v1/sessions/${session.id}`)).rejects.toThrow();
    expect(second?.running).toBe(true);
    // New work arrives through the instance still up.
    const another = await startSession(stack.apiOf(1), { message: 'go', metadata: { scenario: 'slow-model' } });
    for (const s of [session, another]) {
      const done = await waitForStatus(stack.apiOf(1), s.id, undefined, 90_000);
      expect(done.status).toBe('completed');
      expect(done.finalAnswer).toBe('once\n');
      const stream = await expectCleanRun(stack.apiOf(1), s.id);
      expect(stream.filter((e) => e.type === 'tool.started')).toHaveLength(1);
    }
    await first?.start();
    expect((await fetch(`${stack.cluster.apiUrls[0]}/readyz`)).status).toBe(200);
  });

  it('leaves no container holding a session once every session ended', async () => {
    await waitFor(
      async () => (await stack.containers()).every((c) => !c.Names.some((n) => n.includes('-s-ses_'))),
      60_000,
      'the sandboxes of ended sessions to be removed on every host',
    );
  });
});

describe('the platform image', () => {
  it('is built offline (multi-stage, production dependencies, non-root), and serves the cluster: /readyz green, one session through it', async () => {
    const { stdout } = await run('bash', [resolve(REPO_ROOT, 'deploy/image/build.sh'), `kortix/platform:${stack.prefix}`], { maxBuffer: 1 << 26 });
    const image = stdout.trim();
    images.push(image);
    const info = await docker.getImage(image).inspect();
    expect(info.Config.User).toBe('node');
    // Production dependencies only: no test runner, linter or TypeScript loader in the image.
    const listing = await run('docker', ['run', '--rm', '--entrypoint', 'sh', image, '-c', 'id -u; ls node_modules; ls api/main.js']);
    const [uid, ...modules] = listing.stdout.trim().split('\n');
    expect(uid).toBe('1000');
    expect(modules).toEqual(expect.arrayContaining(['@temporalio', 'hono', 'api/main.js']));
    expect(modules).not.toEqual(expect.arrayContaining(['vitest', 'eslint', 'tsx', 'typescript']));

    // The API role, in production mode, on the host network next to the cluster (it listens on loopback).
    const port = stack.cluster.layout.mockLlm + 5;
    const keyFile = join(stack.dataDir, 'vote_signing_key');
    writeFileSync(keyFile, 'image-test-vote-signing-key-0123456789abcdef', { mode: 0o644 });
    // Production reads payload keys from a keyring file only; the cluster's workers run outside production on the
    // derived version 1, so the image gets that same key as its file's version 1 for the test tenant.
    const tenant = `tenant-${stack.prefix}`;
    const devKey = new DevKeyring().get(tenant, 1);
    if (!devKey) throw new Error(`no derived payload key for ${tenant}`);
    const ringFile = join(stack.dataDir, 'payload_keys.json');
    writeFileSync(ringFile, JSON.stringify({ tenants: { [tenant]: [{ version: 1, key: devKey.key.toString('base64') }] } }), { mode: 0o644 });
    const name = `kortix-api-${stack.prefix}`;
    await run('docker', [
      // The host's network namespace needs the host's user namespace too (refused under userns-remap otherwise).
      'run', '-d', '--name', name, '--network', 'host', '--userns', 'host',
      '-v', `${keyFile}:/run/secrets/vote_signing_key:ro`,
      '-e', 'VOTE_SIGNING_KEY_FILE=/run/secrets/vote_signing_key',
      '-v', `${ringFile}:/run/secrets/payload_keys.json:ro`,
      '-e', 'PAYLOAD_CODEC_RING=/run/secrets/payload_keys.json',
      '-e', `DATABASE_URL=${stack.cluster.databaseUrl}`,
      '-e', `TEMPORAL_ADDRESS=${stack.cluster.frontendAddress}`,
      '-e', `TASK_QUEUE_PREFIX=${stack.prefix}`,
      '-e', 'API_HOST=127.0.0.1', '-e', `API_PORT=${port}`, '-e', 'READINESS_CHECK_DOCKER=false',
      // With --userns host on a remapped engine the image's files show the remapped owners, so the runtime user
      // cannot write /app/.data (its own in every other run); the local object store goes to /tmp instead.
      '-e', 'OBJECT_STORE_DIR=/tmp/kortix-objects',
      image, 'api',
    ]);
    containers.push(name);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 90_000, 'the image API to be ready');
    const session = await startSession(stack.apiAt(url), { message: 'go', metadata: { scenario: 'slow-model' } });
    const done = await waitForStatus(stack.apiAt(url), session.id, undefined, 90_000);
    expect(done).toMatchObject({ status: 'completed', finalAnswer: 'once\n' });
    // SIGTERM drains and exits cleanly.
    await run('docker', ['stop', '-t', '20', name]);
    expect((await docker.getContainer(name).inspect()).State.ExitCode).toBe(0);
  }, 900_000);
});

/**
 * A secret mounted for one approved shell call, on the real stack (API,
 * workflow, worker, Docker sandbox, the Vault provider against
 * test/support/fake-vault.ts, the scripted model behind a recorder of what it
 * is sent). An agent version mounts `deploy-key` at /run/secrets/deploy-key;
 * the scripted model asks for it with `mount_secrets`:
 * - the call waits on a gate that names the secret, its file and the command
 *   (never the value); once approved the file is there for that call alone
 *   (0400, the sandbox user's, on a tmpfs) and gone for the next call;
 * - a hostile command prints the value plain, split over two writes, in
 *   base64 at byte offsets 0, 1 and 2, URL-encoded, across the cut of the
 *   kept head and tail, and into a workspace file it saves as a result: the
 *   stored messages and events, the SSE stream, what the model is sent and
 *   the artifacts (output beyond the cap, the saved result) hold only masks;
 * - a rejected gate mounts nothing; a timed-out call leaves nothing, nor a
 *   run aborted as a cancelled activity's is (real sandbox, real exec);
 * - a secret that is gone fails a running session once, not retried, and
 *   blocks a promotion with a 400 naming the field.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withSecretMounts } from '../../activities/secret-mounts.js';
import { startMockLlm, type MockLlmServer } from '../../mock-llm/server.js';
import { keyringFromConfig } from '../../temporal/codec/from-config.js';
import { replayHistories } from '../../temporal/replay.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { SECRET_MOUNT_PATCH } from '../../workflows/session-patches.js';
import { FakeVault } from '../support/fake-vault.js';
import { readAllEvents, startSession, toolResults, vote, waitForGate, waitForStatus } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';

const services = inject('services');
/** 25 bytes: the offsets below put it across the kept head's end and the kept tail's start. */
const VALUE = 'dk_M0unt/V4lue+with=chars';
const LABEL = '[masked secret deploy-key]';
const PATH = '/run/secrets/deploy-key';
/** Bytes of each stream the result carries; beyond, the whole output is an artifact and the model gets half as head and half as tail. */
const LIMIT = 4096;
const HALF = LIMIT / 2;

/** Every form of the value the masking promises, and the 8-byte edges a cut could leave. */
const FORMS = [
  VALUE,
  Buffer.from(VALUE).toString('base64').replace(/=+$/, ''),
  Buffer.from(`x${VALUE}`).toString('base64').slice(2, -2),
  Buffer.from(`xy${VALUE}`).toString('base64').slice(3, -3),
  encodeURIComponent(VALUE),
  VALUE.slice(0, 8),
  VALUE.slice(-8),
];
const expectNoValue = (text: string, what: string) => {
  for (const f of FORMS) expect(text, `${what} holds ${f}`).not.toContain(f);
};

/**
 * The hostile command: stdout has each encoding on its own line; stderr
 * (7130 bytes, beyond LIMIT) has the value across byte HALF (the end of the
 * kept head) and across its size - HALF (the start of the kept tail).
 */
const HOSTILE = String.raw`set -u
v=$(cat ${PATH})
stat -c 'mode=%a uid=%u' ${PATH}
stat -f -c 'fs=%T' /run/secrets
printf 'plain=%s\n' "$v"
printf 'split=%s' "$(printf %s "$v" | head -c 7)"; sleep 0.3; printf '%s\n' "$(printf %s "$v" | tail -c +8)"
printf 'b64=%s\n' "$(printf %s "$v" | base64 -w0)"
printf 'b64o1=%s\n' "$(printf 'x%s' "$v" | base64 -w0)"
printf 'b64o2=%s\n' "$(printf 'xy%s' "$v" | base64 -w0)"
printf 'url=%s\n' "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$v")"
printf '%s\n%s\n' "$v" "$(printf %s "$v" | base64 -w0)" > /workspace/leak.txt
{ head -c ${HALF - 8} /dev/zero | tr '\0' e; printf %s "$v" | head -c 12; sleep 0.2; printf %s "$v" | tail -c +13; head -c 3000 /dev/zero | tr '\0' f; printf %s "$v"; head -c ${HALF - 8} /dev/zero | tr '\0' g; } >&2`;

const LOOK = `cat ${PATH}; echo "status=$?"; echo "entries=$(ls -A /run/secrets | wc -l)"`;

const vault = new FakeVault();
let stack: Stack;
let mock: MockLlmServer;
/** Between the workflow's model calls and the mock: every request body the model is sent. */
let recorder: Server;
const sentToModel: string[] = [];
/** Sessions that took the patched path (gate, mount, refusal): their histories must replay on the current code. */
const replayable: string[] = [];

beforeAll(async () => {
  await vault.start();
  vault.addToken('kortix-dev-token');
  mock = await startMockLlm({
    scenarios: [
      {
        name: 'mount-once',
        turns: [
          { tool_calls: [{ name: 'shell', arguments: { command: HOSTILE, mount_secrets: ['deploy-key'] } }] },
          { tool_calls: [{ name: 'shell', arguments: { command: LOOK } }] },
          { tool_calls: [{ name: 'save_result', arguments: { path: 'leak.txt', media_type: 'text/plain' } }] },
          { content: 'done' },
        ],
      },
      {
        name: 'mount-rejected',
        turns: [
          { tool_calls: [{ name: 'shell', arguments: { command: `cat ${PATH}`, mount_secrets: ['deploy-key'] } }] },
          { tool_calls: [{ name: 'shell', arguments: { command: LOOK } }] },
          { content: '{{tool.stdout}}' },
        ],
      },
      {
        name: 'mount-timeout',
        turns: [
          { tool_calls: [{ name: 'shell', arguments: { command: `base64 -w0 ${PATH}; sleep 60`, timeout_seconds: 2, mount_secrets: ['deploy-key'] } }] },
          { tool_calls: [{ name: 'shell', arguments: { command: LOOK } }] },
          { content: '{{tool.stdout}}' },
        ],
      },
      {
        name: 'mount-unknown',
        turns: [{ tool_calls: [{ name: 'shell', arguments: { command: 'cat /run/secrets/x', mount_secrets: ['not-mine'] } }] }, { content: '{{tool.error}}' }],
      },
      { name: 'slow-start', turns: [{ delay_ms: 3_000, tool_calls: [{ name: 'shell', arguments: { command: 'echo hi' } }] }, { content: 'hi' }] },
    ],
  });
  recorder = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      sentToModel.push(body.toString('utf8'));
      const up = request({ host: '127.0.0.1', port: mock.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', () => r()));
  const dir = mkdtempSync(join(tmpdir(), 'kortix-mount-policies-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(
    join(dir, 'templates', 'mounts.yaml'),
    ['name: mounts', 'tools: [shell]', 'approval:', '  approvers: 1', 'rules:', '  - id: shell', '    tool: shell', '    action: allow', 'default: deny', ''].join('\n'),
  );
  stack = await startStack(services, {
    policiesDir: dir,
    env: {
      MOCK_LLM_URL: `http://127.0.0.1:${(recorder.address() as { port: number }).port}/v1`,
      SECRETS_PROVIDER: 'vault',
      VAULT_ADDR: vault.url,
      VAULT_TOKEN: 'kortix-dev-token',
      SANDBOX_OUTPUT_LIMIT_BYTES: String(LIMIT),
    },
  });
  for (const name of ['deploy-key', 'temp-key', 'promo-key']) vault.put('secret', `kortix/${stack.tenantId}/${name}`, { value: name === 'deploy-key' ? VALUE : `${name}-value-123` });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await new Promise((r) => recorder?.close(r));
  await mock?.close();
  await vault.close();
});

const agentSpec = (secret: string) => ({ systemPrompt: 'deploy things', tools: ['shell'], policy: 'mounts', model: 'mock', secrets: [{ name: secret, mount: { path: `/run/secrets/${secret}` } }] });

async function createAgent(slug: string, secret: string): Promise<void> {
  const res = await stack.api('POST', '/v1/agents', 'alice', { slug, spec: agentSpec(secret) });
  expect(res.status, await res.clone().text()).toBe(201);
  const moved = await stack.api('PUT', `/v1/agents/${slug}/labels/production`, 'alice', { version: 'v1', why: 'first' });
  expect(moved.status, await moved.clone().text()).toBe(200);
}

/** Approves (bob) or rejects the session's next gate and returns what it showed. */
async function decideGate(id: string, decision: 'approve' | 'reject') {
  const gate = await waitForGate(stack, id, 60_000);
  expect((await vote(stack, id, gate.id, 'bob', decision)).status).toBe(200);
  return gate;
}

describe('an agent version with a mountable secret', () => {
  it('is refused with a 400 at the field for a mount path outside /run/secrets, with .., or with NUL', async () => {
    for (const [path, message] of [
      ['/workspace/key', 'directly under /run/secrets/'],
      ['/run/secrets/../etc/passwd', '..'],
      ['/run/secrets/k\0x', 'NUL'],
    ] as const) {
      const res = await stack.api('POST', '/v1/agents', 'alice', { slug: 'bad-mount', spec: { ...agentSpec('deploy-key'), secrets: [{ name: 'deploy-key', mount: { path } }] } });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; fields: { path: string; message: string }[] } };
      expect(error.code).toBe('validation_failed');
      expect(error.fields).toEqual([{ path: 'body.spec.secrets.0.mount.path', message: expect.stringContaining(message) }]);
    }
  });

  it('mounts the secret for the one approved call only, and its value is masked everywhere it could go', async () => {
    await createAgent('deployer', 'deploy-key');
    const session = await startSession(stack, { agent: 'deployer@production', message: 'deploy', metadata: { scenario: 'mount-once' } });
    replayable.push(session.id);
    const gate = await decideGate(session.id, 'approve');
    // The gate names the secret, its file and the command; never the value.
    expect(gate).toMatchObject({ tool: 'shell', ruleId: 'secrets.mount', risk: 'high', arguments: { command: HOSTILE, mount_secrets: ['deploy-key'], secret_mounts: [{ name: 'deploy-key', path: PATH }] } });
    expect(gate.reason).toBe(`mounts secret deploy-key at ${PATH} for this call only`);
    expectNoValue(JSON.stringify(gate), 'the gate');
    const done = await waitForStatus(stack, session.id, undefined, 150_000);
    expect(done.status, done.error ?? '').toBe('completed');

    const [first, second, saved] = await toolResults(stack, session.id);
    // The approved call read the file: 0400, the sandbox user's, on a tmpfs; every form of the value came out masked.
    const stdout = String(first?.stdout);
    expect(stdout).toContain('mode=400 uid=1000');
    expect(stdout).toContain('fs=tmpfs');
    for (const line of ['plain', 'split', 'b64', 'url']) expect(stdout).toContain(`${line}=${LABEL}`);
    // At byte offsets 1 and 2 the first characters also encode the byte before the value: they stay.
    for (const line of ['b64o1', 'b64o2']) expect(stdout).toMatch(new RegExp(`${line}=[A-Za-z0-9+/]{1,4}${LABEL.replace(/[[\]]/g, '\\$&')}`));
    // The kept head and tail are read from the artifact, masked before it was stored: a cut there falls in a label, never in a value.
    expect(first).toMatchObject({ truncated: true, stderr: `${'e'.repeat(HALF - 8)}${LABEL.slice(0, 8)}`, stderr_tail: `${LABEL.slice(-8)}${'g'.repeat(HALF - 8)}` });
    // The next call finds no file, and no file at all in /run/secrets.
    expect(second).toMatchObject({ ok: true, stdout: expect.stringContaining('status=1') });
    expect(String(second?.stdout)).toContain('entries=0');
    expect(String(second?.stderr)).toContain('No such file');

    // The artifacts: stderr beyond the cap and the saved workspace file hold masks only.
    const artifactText = async (sha: string) => {
      const res = await stack.api('GET', `/v1/sessions/${session.id}/artifacts/${sha}`, 'alice');
      expect(res.status).toBe(200);
      return res.text();
    };
    const stderrArtifact = await artifactText(String((first?.stderr_artifact as { sha256: string }).sha256));
    expect(stderrArtifact).toBe(`${'e'.repeat(HALF - 8)}${LABEL}${'f'.repeat(3000)}${LABEL}${'g'.repeat(HALF - 8)}`);
    expect(saved).toMatchObject({ ok: true, path: 'leak.txt' });
    // (base64 padding after a masked value stays: it tells nothing of the value.)
    expect(await artifactText(String(saved?.sha256))).toBe(`${LABEL}\n${LABEL}==\n`);

    // Nothing stored, streamed or sent to the model holds the value in any form.
    const messages = await sql<{ content: string }>`select coalesce(content, '') as content from messages where session_id = ${session.id}`.execute(stack.db);
    const events = await sql<{ data: string }>`select data::text as data from session_events where session_id = ${session.id}`.execute(stack.db);
    const stored = [...messages.rows.map((r) => r.content), ...events.rows.map((r) => r.data)].join('\n');
    expect(stored).toContain(LABEL);
    expectNoValue(stored, 'messages and events');
    const streamed = JSON.stringify(await readAllEvents(stack, session.id));
    expect(streamed).toContain(LABEL);
    expectNoValue(streamed, 'the SSE stream');
    const toModel = sentToModel.join('\n');
    expect(toModel).toContain('mode=400');
    expect(toModel).toContain(LABEL);
    expectNoValue(toModel, 'what the model was sent');
  });

  it('mounts nothing when the gate is rejected', async () => {
    const session = await startSession(stack, { agent: 'deployer@production', message: 'deploy', metadata: { scenario: 'mount-rejected' } });
    replayable.push(session.id);
    await decideGate(session.id, 'reject');
    const done = await waitForStatus(stack, session.id, undefined, 120_000);
    expect(done.status, done.error ?? '').toBe('completed');
    const [denied, look] = await toolResults(stack, session.id);
    expect(denied).toMatchObject({ ok: false, denied: true, error: expect.stringContaining('rejected by bob') });
    expect(String(look?.stdout)).toContain('status=1');
    expect(String(look?.stdout)).toContain('entries=0');
  });

  it('removes the file after a call that timed out', async () => {
    const session = await startSession(stack, { agent: 'deployer@production', message: 'deploy', metadata: { scenario: 'mount-timeout' } });
    await decideGate(session.id, 'approve');
    const done = await waitForStatus(stack, session.id, undefined, 120_000);
    expect(done.status, done.error ?? '').toBe('completed');
    const [timedOut, look] = await toolResults(stack, session.id);
    expect(timedOut).toMatchObject({ timed_out: true, stdout: expect.stringContaining(LABEL) });
    expectNoValue(JSON.stringify(timedOut), 'the timed-out result');
    expect(String(look?.stdout)).toContain('status=1');
    expect(String(look?.stdout)).toContain('entries=0');
  });

  it('refuses to mount a secret the agent has no mount for, without a gate', async () => {
    const session = await startSession(stack, { agent: 'deployer@production', message: 'deploy', metadata: { scenario: 'mount-unknown' } });
    replayable.push(session.id);
    const done = await waitForStatus(stack, session.id, undefined, 60_000);
    expect(done.status).toBe('completed');
    expect(done.finalAnswer).toBe("secret not-mine cannot be mounted: it is not one of this agent's secrets with a mount path");
    const gates = await sql<{ n: number }>`select count(*)::int as n from gates where session_id = ${session.id}`.execute(stack.db);
    expect(gates.rows[0]?.n).toBe(0);
  });
});

describe('a mount whose command is cancelled', () => {
  it('is removed when the run is aborted (the activity cancelled), in a real sandbox', async () => {
    const ref = { tenantId: stack.tenantId, sessionId: `ses_cancel-${Date.now()}` };
    const { containerId } = await stack.host.claim(ref, { network: [] });
    try {
      const look = async () => (await stack.host.exec(containerId, { key: `look-${Date.now()}-${Math.random()}`, command: 'ls -A /run/secrets | wc -l', timeoutSeconds: 10 })).stdout.trim();
      const aborter = new AbortController();
      const input = {
        session: { ...ref, createdAt: new Date().toISOString() },
        lease: { containerId, hostId: stack.host.hostId, taskQueue: 'unused' },
        messageSeq: 3,
        toolCallId: 'call-cancel',
        call: { name: 'shell' as const, args: { command: `cat ${PATH} > /dev/null; sleep 60`, timeout_seconds: 120, mount_secrets: ['deploy-key'] } },
        idempotencyKey: `${ref.sessionId}:3`,
        secrets: [{ name: 'deploy-key', mount: { path: PATH } }],
        mounts: { secrets: [{ name: 'deploy-key', path: PATH }], gate: 'gate-3' },
      };
      const provider = { kind: 'test', get: async () => ({ value: VALUE, version: '1' }), exists: async () => true, list: async () => ['deploy-key'] };
      let during = '';
      const running = withSecretMounts({ host: stack.host, provider }, input, async () => {
        const exec = stack.host.exec(containerId, { key: input.idempotencyKey, command: input.call.args.command, timeoutSeconds: 120 }, { signal: aborter.signal });
        during = await look();
        aborter.abort(new Error('activity cancelled'));
        return exec;
      });
      await expect(running).rejects.toThrow('activity cancelled');
      expect(during).toBe('1');
      expect(await look()).toBe('0');
    } finally {
      await stack.host.release(ref.sessionId);
    }
  });
});

describe('the histories of those sessions', () => {
  it('replay against the current workflow code (the secret-mount-once patch is deterministic)', async () => {
    expect(replayable).toHaveLength(3);
    const histories = await Promise.all(replayable.map(async (id) => ({ name: id, workflowId: id, history: await stack.temporal.workflow.getHandle(id).fetchHistory() })));
    const outcomes = await replayHistories(histories, await loadWorkflowBundle(), keyringFromConfig(stack.config));
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(outcomes).toHaveLength(3);
    // Each took the new path: its history holds the patch's marker.
    for (const h of histories) {
      const patches = (h.history.events ?? [])
        .flatMap((e) => e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? [])
        .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
      expect(patches.some((t) => t.includes(`"id":"${SECRET_MOUNT_PATCH}"`)), h.name).toBe(true);
    }
  }, 120_000);
});

describe('a secret that no longer exists', () => {
  it('fails a running session at its sandbox claim, once, naming the secret', async () => {
    await createAgent('temp-deployer', 'temp-key');
    const session = await startSession(stack, { agent: 'temp-deployer@production', message: 'go', metadata: { scenario: 'slow-start' } });
    vault.deleteVersion('secret', `kortix/${stack.tenantId}/temp-key`, 1);
    const done = await waitForStatus(stack, session.id, undefined, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/secret temp-key: no such secret/);
    // Not retried: the claim was scheduled once and ran once.
    const events = (await stack.temporal.workflow.getHandle(session.id).fetchHistory()).events ?? [];
    const claims = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'claimSandbox').map((e) => Number(e.eventId));
    expect(claims).toHaveLength(1);
    const started = events.filter((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId ?? -1) === claims[0]);
    expect(started.map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1]);
  });

  it('blocks the promotion of a version that references it (400 naming the field)', async () => {
    const res = await stack.api('POST', '/v1/agents', 'alice', { slug: 'promoted', spec: agentSpec('promo-key') });
    expect(res.status).toBe(201);
    vault.deleteVersion('secret', `kortix/${stack.tenantId}/promo-key`, 1);
    const moved = await stack.api('PUT', '/v1/agents/promoted/labels/production', 'alice', { version: 'v1', why: 'release' });
    expect(moved.status).toBe(400);
    expect(await moved.json()).toMatchObject({ error: { code: 'secret_not_found', fields: [{ path: 'body.version.spec.secrets[0]' }] } });
    const labels = (await (await stack.api('GET', '/v1/agents/promoted/labels', 'alice')).json()) as { data: unknown[] };
    expect(labels.data).toEqual([]);
  });
});

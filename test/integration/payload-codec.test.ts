/**
 * Payload encryption on the real stack: a session's history, read raw from
 * Temporal (no codec), holds none of the user's words; the API still shows the
 * session; the key rotates mid-session (old payloads still decode, new ones
 * use the new key); the codec endpoint decodes for the tenant's operator and
 * refuses another tenant and the unauthenticated; the history replays with the
 * keyring (also through `npm run replay -- <session id>`) and not without it.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { keyringFromConfig } from '../../temporal/codec/from-config.js';
import { DevKeyring, rotateKeyInFile } from '../../temporal/codec/keyring.js';
import { isEncrypted, payloadKeyId } from '../../temporal/codec/payload-codec.js';
import { replayHistories } from '../../temporal/replay.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { getSession, readAllEvents, startSession, vote, waitForGate, waitForStatus } from '../support/sessions.js';
import { codecPayloadsOf } from '../support/payloads.js';
import { startStack, waitFor, type Stack } from '../support/stack.js';

const run = promisify(execFile);
const MARKER = `Zebra-${randomUUID().slice(0, 8)}`;
// The approval-shell scenario: a gate opens; one approval, then a rejection closes it (no sandbox is needed).
const MESSAGE = `delete the scratch file of project ${MARKER}`;
const keysFile = join(mkdtempSync(join(tmpdir(), 'kortix-codec-it-')), 'payload-keys.json');
const tenantId = `codec-${randomUUID().slice(0, 8)}`;

let stack: Stack;
let sessionId: string;
let rawHistory: proto.temporal.api.history.v1.IHistory;
let rotatedTo: number;

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

beforeAll(async () => {
  // The tenant's key version 2 in the keyring file (version 1 is the derived test key).
  rotateKeyInFile(keysFile, tenantId, { minVersion: 2 });
  stack = await startStack(inject('services'), { tenantId, env: { PAYLOAD_CODEC_RING: keysFile } });

  const s = await startSession(stack, { message: MESSAGE });
  sessionId = s.id;
  const gate = await waitForGate(stack, s.id);
  expect(await vote(stack, s.id, gate.id, 'bob')).toHaveProperty('status', 200);
  // Rotation while the session runs: its later payloads use version 3, the earlier ones stay under 2.
  rotatedTo = rotateKeyInFile(keysFile, tenantId).version;
  await new Promise((r) => setTimeout(r, 1_100));
  expect(await vote(stack, s.id, gate.id, 'carol', 'reject')).toHaveProperty('status', 200);
  await waitForStatus(stack, s.id, undefined, 60_000);
  const handle = stack.temporal.workflow.getHandle(s.id);
  await waitFor(async () => (await handle.describe()).status.name !== 'RUNNING', 30_000, 'the run to close');
  // Raw from Temporal's gRPC API: nothing between the server and these bytes decodes anything.
  const page = await stack.temporal.workflowService.getWorkflowExecutionHistory({ namespace: stack.config.TEMPORAL_NAMESPACE, execution: { workflowId: s.id } });
  rawHistory = page.history ?? {};
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

describe('a session with encrypted payloads', () => {
  it("its raw Temporal history holds none of the user's words, every payload is encrypted, under the key of the moment", () => {
    const bytes = Buffer.from(proto.temporal.api.history.v1.History.encode(rawHistory).finish());
    expect(bytes.length).toBeGreaterThan(1_000);
    expect(bytes.includes(Buffer.from(MARKER))).toBe(false);
    expect(bytes.includes(Buffer.from('delete the scratch file'))).toBe(false);
    const payloads = codecPayloadsOf(rawHistory);
    expect(payloads.length).toBeGreaterThan(10);
    const plain = payloads.filter((p) => !isEncrypted(p));
    expect(plain.map((p) => Buffer.from(p.data ?? []).toString())).toEqual([]);
    const keyIds = new Set(payloads.map((p) => payloadKeyId(p)));
    expect([...keyIds].sort()).toEqual([`${tenantId}#2`, `${tenantId}#${rotatedTo}`]);
    // The start input was written before the rotation.
    const started = rawHistory.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] as Payload;
    expect(payloadKeyId(started)).toBe(`${tenantId}#2`);
  });

  it('the API still shows the session normally', async () => {
    const s = await getSession(stack, sessionId);
    expect(s.status).toBe('completed');
    expect(s.finalAnswer).toBeTruthy();
    // The user's message reached the activity that stored it (decoded by the worker) and the event stream.
    const events = await readAllEvents(stack, sessionId);
    expect(JSON.stringify(events)).toContain(MARKER);
  });

  it("the codec endpoint decodes the tenant's payloads for its operator", async () => {
    const started = rawHistory.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] as Payload;
    const res = await stack.api('POST', '/v1/codec/decode', 'alice', { payloads: [toJson(started)] }, { 'x-namespace': stack.config.TEMPORAL_NAMESPACE });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(body.payloads[0]?.metadata.encoding ?? '', 'base64').toString()).toBe('json/plain');
    expect(Buffer.from(body.payloads[0]?.data ?? '', 'base64').toString()).toContain(MARKER);

    // Encode then decode through the endpoint: the newest key, and back again.
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify({ note: MARKER })).toString('base64') };
    const enc = await stack.api('POST', '/v1/codec/encode', 'bob', { payloads: [plain] });
    expect(enc.status).toBe(200);
    const sealed = ((await enc.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads[0];
    expect(Buffer.from(sealed?.metadata['encryption-key-id'] ?? '', 'base64').toString()).toBe(`${tenantId}#${rotatedTo}`);
    const back = await stack.api('POST', '/v1/codec/decode', 'carol', { payloads: [sealed, plain] });
    expect(((await back.json()) as { payloads: unknown[] }).payloads).toEqual([plain, plain]);
  });

  it('refuses another tenant, the unauthenticated, a tampered payload, another namespace; CORS only for the Web UI', async () => {
    const started = toJson(rawHistory.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] as Payload);
    const other = await stack.api('POST', '/v1/codec/decode', 'mallory', { payloads: [started] });
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({ error: { code: 'wrong_tenant', fields: [{ path: 'body.payloads.0.metadata.encryption-key-id' }] } });
    expect(await other.text().catch(() => '')).not.toContain(MARKER);

    const anonymous = await stack.app.request('/v1/codec/decode', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payloads: [started] }) });
    expect(anonymous.status).toBe(401);

    const data = Buffer.from(started.data, 'base64');
    data[20] = (data[20] ?? 0) ^ 1;
    const tampered = await stack.api('POST', '/v1/codec/decode', 'alice', { payloads: [{ ...started, data: data.toString('base64') }] });
    expect(tampered.status).toBe(400);
    expect(await tampered.json()).toMatchObject({ error: { code: 'payload_tampered' } });

    const ns = await stack.api('POST', '/v1/codec/decode', 'alice', { payloads: [started] }, { 'x-namespace': 'someone-else' });
    expect(ns.status).toBe(400);
    expect(await ns.json()).toMatchObject({ error: { code: 'wrong_namespace', fields: [{ path: 'header.x-namespace' }] } });

    const bad = await stack.api('POST', '/v1/codec/decode', 'alice', { payloads: [{ data: 'not base64!' }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'validation_failed', fields: [{ path: 'body.payloads.0.data' }] } });

    const ui = new URL(stack.config.TEMPORAL_UI_URL).origin;
    const preflight = await stack.app.request('/v1/codec/decode', {
      method: 'OPTIONS',
      headers: { origin: ui, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,authorization,x-tenant-id' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ui);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
    const elsewhere = await stack.app.request('/v1/codec/decode', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(elsewhere.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });

  it('replays with the keyring, and not without the keys that wrote it', async () => {
    const history = { events: rawHistory.events ?? [] };
    const bundle = await loadWorkflowBundle({ bundlePath: stack.config.WORKFLOW_BUNDLE_PATH });
    const [ok] = await replayHistories([{ name: sessionId, workflowId: sessionId, history }], bundle, keyringFromConfig(stack.config));
    expect(ok).toMatchObject({ ok: true });
    const [without] = await replayHistories([{ name: sessionId, workflowId: sessionId, history }], bundle, new DevKeyring());
    expect(without?.ok).toBe(false);
  });

  it('`npm run replay -- <session id>` decodes it with the configured keyring', async () => {
    const env = { ...process.env, ...stack.env, PAYLOAD_CODEC_RING: keysFile };
    const { stdout } = await run('npx', ['tsx', 'temporal/replay-main.ts', sessionId], { cwd: REPO_ROOT, env, timeout: 200_000 });
    expect(stdout).toContain('deterministic');
    expect(stdout).toContain('1 of 1 histories replay against the current code');
  }, 210_000);
});

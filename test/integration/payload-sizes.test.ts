/**
 * Temporal payloads stay small on the real stack (Temporal, Postgres, Docker,
 * the local object store driver in a temp directory): a session whose values
 * are all big (a 75 KB message, a 5 MB shell output, a 450 KB write_file
 * argument from the model, a 450 KB final answer) leaves no payload in
 * its raw history above TEMPORAL_PAYLOAD_OFFLOAD_BYTES. The tool output never
 * enters a payload (the activity stores it and returns an outcome; the model's
 * transcript is read from Postgres); the model's big answers go to the object
 * store as External Storage references (temporal/payload-storage.ts), encrypted
 * first by the tenant's codec, and are still read back whole through the
 * client (claim check).
 *
 * The codec deflates before it encrypts, so the text must not compress much
 * (random words: ~35 %), and the model's context window (128k tokens of the
 * mock model, counted with a real BPE) bounds what the transcript may hold.
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { PAYLOAD_STORAGE_PREFIX } from '../../temporal/payload-storage.js';
import { json, startSession, toolResults, waitForClosed, waitForStatus } from '../support/sessions.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
let objects: string;

beforeAll(async () => {
  objects = mkdtempSync(join(tmpdir(), 'kortix-payloads-'));
  stack = await startStack(inject('services'), { env: { OBJECT_STORE: 'local', OBJECT_STORE_DIR: objects, SANDBOX_POOL_MIN_IDLE: '0' } });
});
afterAll(async () => {
  await stack?.close();
  if (objects) rmSync(objects, { recursive: true, force: true });
});

interface RawPayload {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}

/** Every Payload in a value of the history's protobuf objects (events nest them at many depths). */
function payloadsIn(value: unknown, found: RawPayload[] = []): RawPayload[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  if (Array.isArray(value)) {
    for (const v of value) payloadsIn(v, found);
    return found;
  }
  const o = value as Record<string, unknown>;
  if (o.metadata && typeof o.metadata === 'object' && 'data' in o && (o.data === null || o.data instanceof Uint8Array)) {
    found.push(o as RawPayload);
    return found;
  }
  for (const v of Object.values(o)) payloadsIn(v, found);
  return found;
}

/** ~`n` characters of words drawn at random from the README: ~6 characters a token, deflated to ~35 %. */
function randomWords(n: number): string {
  const vocab = [...new Set(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').toLowerCase().match(/[a-z]{3,12}/g) ?? [])];
  const out: string[] = [];
  for (let len = 0; len < n; ) {
    const word = vocab[randomInt(vocab.length)] as string;
    out.push(word);
    len += word.length + 1;
  }
  return out.join(' ').slice(0, n);
}

const sizeOf = (p: RawPayload) => (p.data?.length ?? 0) + Object.entries(p.metadata ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
const isReference = (p: RawPayload) => Buffer.from(p.metadata?.messageType ?? []).toString() === 'temporal.api.sdk.v1.ExternalStorageReference';

/** The history as the server keeps it: no codec, no External Storage retrieval. */
async function rawHistory(workflowId: string) {
  const events: unknown[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await stack.temporal.workflowService.getWorkflowExecutionHistory({
      namespace: stack.config.TEMPORAL_NAMESPACE,
      execution: { workflowId },
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('Temporal payloads of a session with big values', () => {
  it('stay under the offload threshold; the big ones are references the client reads back whole', async () => {
    const limit = stack.config.TEMPORAL_PAYLOAD_OFFLOAD_BYTES;
    expect(limit).toBe(128 * 1024);
    const message = `large: ${randomWords(75_000)}`;
    const session = await startSession(stack, { message });
    const done = await waitForStatus(stack, session.id, undefined, 150_000);
    expect(done.status).toBe('completed');
    // The row says completed a moment before the workflow's last task: its result (a reference) comes with that task.
    await waitForClosed(stack, session.id);

    const events = await rawHistory(session.id);
    const payloads = payloadsIn(events);
    expect(payloads.length).toBeGreaterThan(20);
    // The text does deflate to over the threshold (else this test would prove nothing).
    expect(deflateRawSync(message.repeat(6)).length).toBeGreaterThan(limit);
    const largest = Math.max(...payloads.map(sizeOf));
    expect(largest).toBeLessThan(limit);
    // The model's 450 KB tool-call argument (llmStep's result, execTool's input) and its 450 KB answer
    // (llmStep's result, finishSession's input, the workflow's result) went by reference.
    const references = payloads.filter(isReference);
    expect(references.length).toBeGreaterThanOrEqual(5);

    // Reachable by reference: the client's result is the whole answer.
    const result = (await stack.temporal.workflow.getHandle(session.id).result()) as { finalAnswer: string };
    expect(result.finalAnswer).toBe(message.repeat(6));
    // The history replays, references read back from the store (the API's replay check).
    const replay = await json<{ deterministic: boolean; error: string | null }>(await stack.api('GET', `/v1/sessions/${session.id}/replay-check`));
    expect(replay).toMatchObject({ deterministic: true, error: null });

    // The 5 MB tool output never was a payload: it is in the object store as an artifact, whole.
    const results = await toolResults(stack, session.id);
    // The sandbox worker got the model's whole write_file argument through its reference.
    const shell = results[0] as { stdout_artifact: { sha256: string; bytes: number; download: string } };
    expect(shell.stdout_artifact.bytes).toBe(5_000_000);
    expect(results[1]).toMatchObject({ ok: true, path: 'echo.txt', bytes: message.length * 6 });
    const download = await stack.api('GET', shell.stdout_artifact.download);
    expect(download.status).toBe(200);
    expect(createHash('sha256').update(Buffer.from(await download.arrayBuffer())).digest('hex')).toBe(shell.stdout_artifact.sha256);

    // What the object store holds of the payloads is the codec's ciphertext, never the message's text.
    const stored = filesUnder(join(objects, PAYLOAD_STORAGE_PREFIX));
    expect(stored.length).toBeGreaterThanOrEqual(2);
    for (const f of stored) expect(readFileSync(f).includes(message.slice(7, 71))).toBe(false);

    // The API's own view still works: the events stream has the answer.
    const view = await json<{ finalAnswer: string | null }>(await stack.api('GET', `/v1/sessions/${session.id}`));
    expect(view.finalAnswer).toBe(message.repeat(6));
  });
});

/**
 * Bytes a tool-heavy session leaves in Postgres, with the artifact offload
 * (the default: shell output beyond SANDBOX_OUTPUT_LIMIT_BYTES goes to the
 * object store, the transcript keeps its head, tail and a reference) and
 * without it (a cap large enough that every output stays inline, as keeping
 * all output in Postgres would). Real Temporal, Postgres, Docker and the mock
 * model; the same scenario in both: shell calls printing ~1 MB each, half
 * compressible (`seq`), half not (base64 of random bytes), then an answer.
 *
 * Measured per session: the sum of pg_column_size of its rows in
 * session_events, messages, llm_calls and artifacts (TOAST-compressed, as
 * stored), and the bytes it put in the object store.
 *
 * The inline run needs a model whose context window takes megabytes of tool
 * output (a policy with one wide mock model): the real models' windows would
 * refuse such a transcript, which is one more reason for the offload.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { sql } from 'kysely';
import type { Db } from '../db/client.js';
import type { ScenarioInput } from '../mock-llm/scenario-schema.js';
import { createMockLlmApp } from '../mock-llm/server.js';
import type { ServiceValues } from '../test/support/services.js';
import { startSession, waitForStatus } from '../test/support/sessions.js';
import { startStack } from '../test/support/stack.js';

const CALLS = 6;
const COMPRESSIBLE = 'seq 1 150000';
const INCOMPRESSIBLE = 'head -c 750000 /dev/urandom | base64 -w 100';

const SCENARIO: ScenarioInput = {
  name: 'tool-heavy',
  turns: [
    ...Array.from({ length: CALLS }, (_, i) => ({ tool_calls: [{ name: 'shell', arguments: { command: i % 2 === 0 ? COMPRESSIBLE : INCOMPRESSIBLE } }] })),
    { content: 'Done: the last call printed {{tool.exit_code}}.' },
  ],
};

/** One mock model for the inline run, with a window that takes the whole transcript. */
const WIDE_POLICY = `default: mock_wide
models:
  mock_wide:
    provider: mock
    model: mock
    contextWindow: 100000000
    maxOutputTokens: 4096
    tier: large
`;

export interface PgBytesRun {
  readonly mode: 'offload' | 'inline';
  readonly outputLimitBytes: number;
  readonly toolOutputBytes: number;
  readonly pgBytes: { readonly session_events: number; readonly messages: number; readonly llm_calls: number; readonly artifacts: number; readonly total: number };
  readonly objectStoreBytes: number;
}

export interface PgBytesResult {
  readonly toolCalls: number;
  readonly runs: readonly PgBytesRun[];
  /** Postgres bytes inline ÷ with the offload. */
  readonly reduction: number;
}

async function sessionPgBytes(db: Db, sessionId: string): Promise<PgBytesRun['pgBytes']> {
  const sum = async (table: 'session_events' | 'messages' | 'llm_calls' | 'artifacts') => {
    const { rows } = await sql<{ bytes: string | null }>`select sum(pg_column_size(t.*))::text as bytes from ${sql.table(table)} t where t.session_id = ${sessionId}`.execute(db);
    return Number(rows[0]?.bytes ?? 0);
  };
  const parts = { session_events: await sum('session_events'), messages: await sum('messages'), llm_calls: await sum('llm_calls'), artifacts: await sum('artifacts') };
  return { ...parts, total: parts.session_events + parts.messages + parts.llm_calls + parts.artifacts };
}

async function run(services: ServiceValues, mode: PgBytesRun['mode'], modelUrl: string, dir: string): Promise<PgBytesRun> {
  const outputLimitBytes = mode === 'offload' ? 64 * 1024 : 8 * 1024 * 1024;
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, WIDE_POLICY);
  const stack = await startStack(services, {
    env: {
      MOCK_LLM_URL: modelUrl,
      MODEL_POLICY_FILE: policyFile,
      SANDBOX_OUTPUT_LIMIT_BYTES: String(outputLimitBytes),
      OBJECT_STORE: 'local',
      OBJECT_STORE_DIR: join(dir, `objects-${mode}`),
      SANDBOX_POOL_MIN_IDLE: '1',
    },
  });
  try {
    const session = await startSession(stack, { message: 'bench: tool-heavy', metadata: { scenario: 'tool-heavy' } });
    const done = await waitForStatus(stack, session.id, undefined, 600_000);
    if (done.status !== 'completed') throw new Error(`the ${mode} session ended ${done.status}`);
    const outputs = await stack.db.selectFrom('messages').select('content').where('session_id', '=', session.id).where('role', '=', 'tool').execute();
    let toolOutputBytes = 0;
    for (const m of outputs) {
      const r = JSON.parse(m.content ?? '{}') as { stdout?: string; stdout_artifact?: { bytes: number } };
      toolOutputBytes += r.stdout_artifact?.bytes ?? Buffer.byteLength(r.stdout ?? '');
    }
    const objects = await stack.db.selectFrom('artifacts').select(sql<string>`coalesce(sum(size_bytes), 0)::text`.as('bytes')).where('session_id', '=', session.id).executeTakeFirst();
    return { mode, outputLimitBytes, toolOutputBytes, pgBytes: await sessionPgBytes(stack.db, session.id), objectStoreBytes: Number(objects?.bytes ?? 0) };
  } finally {
    await stack.close();
  }
}

export async function benchPgBytes(services: ServiceValues): Promise<PgBytesResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kortix-bench-pg-bytes-'));
  const app = createMockLlmApp([SCENARIO]);
  const server = await new Promise<{ close: () => void; port: number }>((ok) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => ok({ close: () => s.close(), port: info.port }));
  });
  try {
    const url = `http://127.0.0.1:${server.port}/v1`;
    const offload = await run(services, 'offload', url, dir);
    const inline = await run(services, 'inline', url, dir);
    return { toolCalls: CALLS, runs: [offload, inline], reduction: Math.round((inline.pgBytes.total / offload.pgBytes.total) * 10) / 10 };
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

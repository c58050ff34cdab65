/**
 * What one tool step costs Postgres and the worker in session records: the round trips, the wall time and
 * the CPU of the records a step reads and writes, on a fresh migrated database of the provisioned Postgres.
 *
 * A step is what the sessions' activities do around the model and the tool, with neither: `llmStep` itself
 * (activities/session-activities.ts, in a MockActivityEnvironment, its model a stand-in that answers at once
 * with one shell call), then `execTool`'s records as activities/sandbox-activities.ts writes them (its read
 * of the result's slot, `tool.started` with the policy's decision, then the result and `tool.result`).
 *
 * Round trips are counted at pg's client (BEGIN and COMMIT included). `sequential`: one session at a time,
 * the latency of a step's records. `concurrent`: CONCURRENCY sessions at once, the CPU per step of this
 * process (the activities, kysely, pg) and of Postgres's processes (from /proc: read it as an upper bound
 * when something else uses Postgres meanwhile).
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { createSessionActivities } from '../activities/session-activities.js';
import type { LlmStepInput, LlmStepResult } from '../activities/types.js';
import { createSessionRow, getMessage, writeSessionRecords } from '../db/session-records.js';
import { createTenant } from '../db/tenants.js';
import type { Db } from '../db/client.js';
import type { SessionRef } from '../domain/session.js';
import { EVENT_KEY_SOURCES, EVENT_TYPES, eventKey } from '../domain/events.js';
import type { ModelRouter } from '../router/router.js';
import type { RoutedAnswer } from '../router/route-types.js';
import { cpuByGroup } from './cpu-profile.js';
import { withDatabase } from './router.js';
import { percentiles } from './stats.js';

type LlmStep = (input: LlmStepInput) => Promise<LlmStepResult>;

const SESSIONS = 100;
const STEPS = 20;
const CONCURRENCY = 16;

/** Every query pg's clients send in this process, counted. */
let roundTrips = 0;
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  roundTrips += 1;
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

/** The model's stand-in: one shell call, at once. */
const router = {
  complete: async (): Promise<RoutedAnswer> =>
    ({
      content: null,
      toolCalls: [{ id: `call_${randomUUID()}`, name: 'shell', arguments: '{"command":"ls -la /workspace"}' }],
      usage: { inputTokens: 1200, outputTokens: 40 },
      model: 'bench',
      provider: 'bench',
      providerModel: 'bench',
      costUsd: 0.0001,
      savedUsd: 0,
      latencyMs: 0,
      upstreamMs: 0,
      route: 'bench',
      tier: 'small',
      promptTokens: 1200,
      cacheHit: false,
      merged: false,
      fallbackUsed: false,
      downgradedFrom: null,
      attempts: 1,
      context: null,
    }) as unknown as RoutedAnswer,
} as unknown as ModelRouter;

async function newSession(db: Db): Promise<SessionRef> {
  const ref = { tenantId: 'bench', sessionId: `ses_${randomUUID()}`, createdAt: new Date().toISOString() };
  await createSessionRow(db, { id: ref.sessionId, tenantId: ref.tenantId, agent: 'bench', requester: 'bench', policyName: 'default', policyHash: 'x', model: null, metadata: {}, createdAt: ref.createdAt });
  await writeSessionRecords(db, ref, { messages: [{ seq: 0, role: 'system', content: 'You are a bench.' }, { seq: 1, role: 'user', content: 'List the files, ten times.' }] });
  return ref;
}

/** One tool step's records: the model's step, then the tool's, as the activities write them. */
async function step(db: Db, llmStep: LlmStep, session: SessionRef, n: number): Promise<void> {
  const llmSeq = 2 + 2 * n;
  const toolSeq = llmSeq + 1;
  const input: LlmStepInput = { session, messageSeq: llmSeq, step: n + 1, tools: ['shell'], metadata: {} };
  const answer = (await new MockActivityEnvironment().run(llmStep, input)) as LlmStepResult;
  const call = answer.toolCalls[0];
  if (!call) throw new Error('the stand-in model made no call');
  if (await getMessage(db, session, toolSeq)) throw new Error(`message ${toolSeq} exists already`);
  await writeSessionRecords(db, session, {
    events: [
      { key: eventKey(EVENT_KEY_SOURCES.workflow, toolSeq), type: EVENT_TYPES.toolDecision, data: { toolCallId: call.id, decision: 'allow', rule: 'bench' } },
      { key: eventKey(EVENT_KEY_SOURCES.toolStarted, toolSeq), type: EVENT_TYPES.toolStarted, data: { seq: toolSeq, toolCallId: call.id, name: 'shell', arguments: { command: 'ls -la /workspace' } } },
    ],
  });
  const content = JSON.stringify({ ok: true, exit_code: 0, stdout: 'total 8\ndrwxr-xr-x 2 agent agent 4096 .\n', stderr: '' });
  await writeSessionRecords(db, session, {
    messages: [{ seq: toolSeq, role: 'tool', content, toolCallId: call.id }],
    events: [
      { key: eventKey(EVENT_KEY_SOURCES.toolResult, toolSeq), type: EVENT_TYPES.toolResult, data: { seq: toolSeq, toolCallId: call.id, name: 'shell', ran: true, ok: true, exitCode: 0, output: content } },
    ],
  });
}

async function sequential(db: Db, llmStep: LlmStep) {
  const walls: number[] = [];
  let trips = 0;
  for (let s = 0; s < SESSIONS / 4; s++) {
    const session = await newSession(db);
    for (let n = 0; n < STEPS; n++) {
      const before = roundTrips;
      const t0 = performance.now();
      await step(db, llmStep, session, n);
      walls.push(performance.now() - t0);
      trips = roundTrips - before;
    }
  }
  return { steps: walls.length, roundTripsPerStep: trips, wallMs: percentiles(walls) };
}

async function concurrent(db: Db, llmStep: LlmStep) {
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => newSession(db)));
  // Each lane runs its sessions' steps in order, as each session's workflow does. No Temporal here: no pids for its group.
  const before = cpuByGroup([]);
  const t0 = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      for (let i = lane; i < sessions.length; i += CONCURRENCY) {
        const s = sessions[i] as SessionRef;
        for (let n = 0; n < STEPS; n++) {
          await step(db, llmStep, s, n);
          done += 1;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = cpuByGroup([]);
  const ms = (group: string) => Math.round((((after[group] ?? 0) - (before[group] ?? 0)) * 1000 * 100) / done) / 100;
  if (done !== SESSIONS * STEPS) throw new Error(`${done} of ${SESSIONS * STEPS} steps ran`);
  return { steps: done, concurrency: CONCURRENCY, stepsPerSecond: Math.round((done / seconds) * 10) / 10, cpuMsPerStep: { bench: ms('bench'), postgres: ms('postgres') } };
}

export async function benchSessionWrites() {
  return withDatabase(async (db) => {
    await createTenant(db, { id: 'bench' });
    const { llmStep } = createSessionActivities({ db, router });
    await sequential(db, llmStep); // warm-up: connections, prepared plans, the JIT
    return { sequential: await sequential(db, llmStep), concurrent: await concurrent(db, llmStep) };
  });
}

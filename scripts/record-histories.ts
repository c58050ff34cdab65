/**
 * `make record-histories`: runs real sessions (real Temporal, Postgres,
 * Docker, mock LLM) through the API and writes their Temporal histories to
 * test/histories/, where CI replays them against every later change.
 * Re-record only when a change to the workflow is meant to break replay (and
 * then version it with patched() for sessions still running in production).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { REPO_ROOT } from '../config/index.js';
import { approvalSignal } from '../workflows/definitions.js';
import { startServices } from '../test/support/services.js';
import { startStack, waitFor, type Stack } from '../test/support/stack.js';
import { getSession, startSession, vote, waitForGate, waitForStatus } from '../test/support/sessions.js';

const OUT = resolve(REPO_ROOT, 'test/histories');

type Recording = (stack: Stack) => Promise<string>;

const RECORDINGS: Record<string, Recording> = {
  'approved-by-two': async (stack) => {
    const s = await startSession(stack, { message: 'Please clean up the build cache' });
    const gate = await waitForGate(stack, s.id);
    await vote(stack, s.id, gate.id, 'alice'); // refused by the validator: never in the history
    await vote(stack, s.id, gate.id, 'bob');
    await vote(stack, s.id, gate.id, 'bob'); // a duplicate: accepted, not counted
    // The second approval arrives as a signal, the way Slack buttons send it.
    await stack.temporal.workflow
      .getHandle(s.id)
      .signal(approvalSignal, { gateId: gate.id, approver: 'carol', decision: 'approve', channel: 'slack' });
    return s.id;
  },
  rejected: async (stack) => {
    const s = await startSession(stack, { message: 'delete the scratch file' });
    const gate = await waitForGate(stack, s.id);
    await vote(stack, s.id, gate.id, 'bob', 'reject');
    return s.id;
  },
  'approval-timed-out': async (stack) => {
    const s = await startSession(stack, { message: 'delete the scratch file', limits: { approvalTimeoutSeconds: 2 } });
    const gate = await waitForGate(stack, s.id);
    await vote(stack, s.id, gate.id, 'carol');
    return s.id;
  },
  'malformed-tool-call': async (stack) => (await startSession(stack, { message: 'x', metadata: { scenario: 'malformed-tool-call' } })).id,
  'cancelled-at-gate': async (stack) => {
    const s = await startSession(stack, { message: 'delete the scratch file' });
    await waitForGate(stack, s.id);
    await stack.api('POST', `/v1/sessions/${s.id}/cancel`, 'alice', { reason: 'changed my mind' });
    return s.id;
  },
  'max-steps': async (stack) =>
    (await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step' }, limits: { maxSteps: 2 } })).id,
  'follow-up-message': async (stack) => {
    const s = await startSession(stack, { message: 'first', idleTimeoutSeconds: 3, metadata: { scenario: 'default' } });
    await waitFor(async () => (await getSession(stack, s.id)).usage.llmCalls === 1);
    await stack.api('POST', `/v1/sessions/${s.id}/messages`, 'alice', { content: 'second' });
    return s.id;
  },
};

async function writeRuns(stack: Stack, name: string, sessionId: string): Promise<string[]> {
  const runs: { runId: string; startTime: Date }[] = [];
  for await (const run of stack.temporal.workflow.list({ query: `WorkflowId = '${sessionId}'` })) runs.push(run);
  runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  const files: string[] = [];
  for (const [i, run] of runs.entries()) {
    const history = await stack.temporal.workflow.getHandle(sessionId, run.runId).fetchHistory();
    const file = runs.length === 1 ? `${name}.json` : `${name}.run${i + 1}.json`;
    writeFileSync(resolve(OUT, file), `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
    files.push(file);
  }
  return files;
}

async function main(): Promise<void> {
  const services = await startServices('record');
  const stack = await startStack(services.values);
  const cans = await startStack(services.values, { tuning: { continueAsNewAfterEvents: 60 } });
  try {
    mkdirSync(OUT, { recursive: true });
    for (const file of readdirSync(OUT).filter((f) => f.endsWith('.json'))) rmSync(resolve(OUT, file));
    for (const [name, record] of Object.entries(RECORDINGS)) {
      const id = await record(stack);
      await waitForStatus(stack, id, undefined, 60_000);
      console.log(`${name}: ${(await writeRuns(stack, name, id)).join(', ')}`);
    }
    const long = await startSession(cans, { message: 'go', metadata: { scenario: 'multi-step', repeat: '6' } });
    await waitForStatus(cans, long.id, undefined, 90_000);
    console.log(`continued-as-new: ${(await writeRuns(cans, 'continued-as-new', long.id)).join(', ')}`);
  } finally {
    await cans.close();
    await stack.close();
    await services.stop();
  }
}

await main();

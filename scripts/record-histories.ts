/**
 * `make record-histories`: runs real sessions (real Temporal, Postgres,
 * Docker, mock LLM) through the API and writes their Temporal histories to
 * test/histories/current/, where CI replays them against every later change.
 * Earlier sets (test/histories/foundation/, ...) are kept: sessions started
 * by older code must still replay on the new code.
 * Re-record only when a change to the workflow is meant to break replay (and
 * then version it with patched() for sessions still running in production).
 *
 * `--only=<name>[,<name>]` records just those (e.g. `--only=browser-walk`) and
 * leaves the other files of test/histories/current/ as they are.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { REPO_ROOT } from '../config/index.js';
import { approvalSignal, stateQuery } from '../workflows/definitions.js';
import { FakeSlack, signedClick } from '../test/support/fake-slack.js';
import { startServices } from '../test/support/services.js';
import { startStack, waitFor, type Stack } from '../test/support/stack.js';
import { getSession, startSession, vote, waitForEvent, waitForGate, waitForStatus } from '../test/support/sessions.js';

/** Fresh recordings go here; older sets (test/histories/<name>/) stay and keep being replayed. */
const OUT = resolve(REPO_ROOT, 'test/histories/current');

type Recording = (stack: Stack) => Promise<string>;

const RECORDINGS: Record<string, Recording> = {
  'approved-by-two': async (stack) => {
    const s = await startSession(stack, { message: 'Please clean up the build cache' });
    const gate = await waitForGate(stack, s.id);
    await vote(stack, s.id, gate.id, 'alice'); // refused by the validator: never in the history
    await vote(stack, s.id, gate.id, 'bob');
    await vote(stack, s.id, gate.id, 'bob'); // a duplicate: accepted, not counted
    // The closing vote through the API's Update too, as the README walk-through does.
    await vote(stack, s.id, gate.id, 'carol');
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
  // The walk-through as a person runs it, with the workflow queried (an operator, the Temporal UI) before and between
  // the votes. GET /v1/sessions/:id reads Postgres since issue 16, so the query is sent directly.
  'queried-then-approved': async (stack) => {
    const s = await startSession(stack, { message: 'Please clean up the build cache' });
    const gate = await waitForGate(stack, s.id);
    const query = () => stack.temporal.workflow.getHandle(s.id).query(stateQuery);
    await query();
    await vote(stack, s.id, gate.id, 'bob');
    await query();
    await vote(stack, s.id, gate.id, 'carol');
    return s.id;
  },
  // A vote sent to Temporal directly, naming an invented approver: refused, then the API's votes close the gate.
  'forged-vote-refused': async (stack) => {
    const s = await startSession(stack, { message: 'Please clean up the build cache' });
    const gate = await waitForGate(stack, s.id);
    await stack.temporal.workflow.getHandle(s.id).signal(approvalSignal, { gateId: gate.id, approver: 'eve', roles: ['admin'], decision: 'approve', channel: 'slack' });
    await vote(stack, s.id, gate.id, 'bob');
    await vote(stack, s.id, gate.id, 'carol');
    return s.id;
  },
  'follow-up-message': async (stack) => {
    const s = await startSession(stack, { message: 'first', idleTimeoutSeconds: 3, metadata: { scenario: 'default' } });
    await waitFor(async () => (await getSession(stack, s.id)).usage.llmCalls === 1);
    await stack.api('POST', `/v1/sessions/${s.id}/messages`, 'alice', { content: 'second' });
    return s.id;
  },
};

/**
 * Sessions whose model calls are local activities (tuning.localModelCalls, issue 16), recorded on a stack of
 * their own: steps, a gate voted through the API with queries between the votes, a follow-up message.
 */
const LOCAL_RECORDINGS: Record<string, Recording> = {
  'local-model-calls': async (stack) => {
    const s = await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step' } });
    await waitFor(async () => (await getSession(stack, s.id)).usage.toolCalls >= 1);
    return s.id;
  },
  'local-model-calls-approved': (stack) => RECORDINGS['queried-then-approved']!(stack),
  'local-model-calls-follow-up': (stack) => RECORDINGS['follow-up-message']!(stack),
};
/** The same with continue-as-new (a stack that continues after 60 events): the setting is carried into the next run. */
const LOCAL_CONTINUED_RECORDINGS: Record<string, Recording> = {
  'local-model-calls-continued': async (stack) => (await startSession(stack, { message: 'go', metadata: { scenario: 'multi-step', repeat: '8' } })).id,
};

/** A gate left open until the park is decided (`event`), then approved by two through the API. */
const parkAtGate =
  (scenario: string, event: string): Recording =>
  async (stack) => {
    const s = await startSession(stack, { message: 'wait on a gate', metadata: { scenario } });
    const gate = await waitForGate(stack, s.id);
    await waitForEvent(stack, s.id, event);
    await vote(stack, s.id, gate.id, 'bob');
    await vote(stack, s.id, gate.id, 'carol');
    return s.id;
  };

/** Sessions whose sandbox is parked while they wait on people (tuning.sandboxParkAfterMs 1 s; workflows/session-park.ts). */
const PARK_RECORDINGS: Record<string, Recording> = {
  'parked-at-gate': parkAtGate('park-gate', 'sandbox.parked'),
  'park-refused': parkAtGate('park-keep', 'sandbox.park_refused'),
  'parked-follow-up': async (stack) => {
    const s = await startSession(stack, { message: 'first', idleTimeoutSeconds: 5, metadata: { scenario: 'multi-step', repeat: '1' } });
    await waitForEvent(stack, s.id, 'sandbox.parked');
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
    const handle = stack.temporal.workflow.getHandle(sessionId, run.runId);
    // The session row ends one workflow task before the run closes: wait for the close, so the file holds the whole run.
    await waitFor(async () => (await handle.describe()).status.name !== 'RUNNING', 30_000, `run ${run.runId} to close`);
    const history = await handle.fetchHistory();
    const file = runs.length === 1 ? `${name}.json` : `${name}.run${i + 1}.json`;
    writeFileSync(resolve(OUT, file), `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
    files.push(file);
  }
  return files;
}

/** A gate with roles, posted to (a local fake) Slack, decided by one API vote and one Slack click. */
async function recordSlackGate(stack: Stack, slack: FakeSlack, secret: string): Promise<string> {
  const s = await startSession(stack, { message: 'clean up the build cache', policy: 'roles' });
  const gate = await waitForGate(stack, s.id);
  await waitFor(() => slack.calls.some((c) => c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks).includes(s.id)), 20_000, 'the post');
  await vote(stack, s.id, gate.id, 'bob');
  const { body, headers } = signedClick(secret, { slackUser: 'U0CAROL', action: 'approve', sessionId: s.id, gateId: gate.id });
  await stack.app.request('/v1/integrations/slack/interactions', { method: 'POST', body, headers });
  return s.id;
}

/** An agent whose production label moves to a looser version: the promotion workflow waits on bob and carol. Returns its workflow id. */
async function recordPromotion(stack: Stack): Promise<string> {
  const call = async (method: string, path: string, body: unknown, who: 'alice' | 'bob' | 'carol' = 'alice') => {
    const res = await stack.api(method, path, who, body);
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const created = (await call('POST', '/v1/agents', { slug: 'recorder', fromTemplate: 'code-reviewer' })) as { version: { spec: Record<string, unknown> } };
  await call('PUT', '/v1/agents/recorder/labels/production', { version: 'v1', why: 'first release' });
  const spec = created.version.spec as { network?: { allow?: string[] } };
  await call('POST', '/v1/agents/recorder/versions', { spec: { ...spec, network: { allow: ['pypi.org'] } }, changeNote: 'needs pypi' });
  const moved = (await call('PUT', '/v1/agents/recorder/labels/production', { version: 'v2', why: 'let it read pypi' })) as {
    promotion?: { id: string; links: { approve: string } };
  };
  if (!moved.promotion) throw new Error('the looser version did not open a promotion gate');
  await call('POST', moved.promotion.links.approve, { decision: 'approve' }, 'bob');
  await call('POST', moved.promotion.links.approve, { decision: 'approve' }, 'carol');
  const id = moved.promotion.id;
  await waitFor(async () => (await stack.temporal.workflow.getHandle(id).describe()).status.name === 'COMPLETED', 30_000, 'the promotion to finish');
  return id;
}

/** The sandbox browser on pages of the workspace (mock-llm/scenarios/browser-walk.yaml, policy `browser` of test/fixtures). */
async function recordBrowser(stack: Stack): Promise<string> {
  const s = await startSession(stack, { message: 'read the notes', policy: 'browser', metadata: { scenario: 'browser-walk' } });
  const done = await waitForStatus(stack, s.id, undefined, 120_000);
  if (done.status !== 'completed' || !/The answer is 42/.test(done.finalAnswer ?? '')) {
    throw new Error(`the browser session ended ${done.status}: ${done.finalAnswer ?? done.error ?? ''}`);
  }
  return s.id;
}

const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (name: string) => !only || only.includes(name);

async function main(): Promise<void> {
  const services = await startServices('record');
  const stack = await startStack(services.values);
  const cans = await startStack(services.values, { tuning: { continueAsNewAfterEvents: 60 } });
  const local = await startStack(services.values, { tuning: { localModelCalls: true } });
  const localCans = await startStack(services.values, { tuning: { localModelCalls: true, continueAsNewAfterEvents: 60 } });
  const parking = await startStack(services.values, { tuning: { sandboxParkAfterMs: 1_000 } });
  const slack = new FakeSlack();
  await slack.start();
  const secret = 'record-signing-secret';
  const users = join(mkdtempSync(join(tmpdir(), 'kortix-record-')), 'users.yaml');
  writeFileSync(users, 'users:\n  U0CAROL: { tenant: acme-record, principal: carol, roles: [security] }\n');
  const withSlack = await startStack(services.values, {
    tenantId: 'acme-record',
    policiesDir: resolve(REPO_ROOT, 'test/fixtures/policies'),
    env: { SLACK_API_URL: slack.url, SLACK_BOT_TOKEN: 'xoxb-record', SLACK_SIGNING_SECRET: secret, SLACK_USERS_FILE: users },
  });
  try {
    mkdirSync(OUT, { recursive: true });
    const names = [...Object.keys(RECORDINGS), ...Object.keys(LOCAL_RECORDINGS), ...Object.keys(LOCAL_CONTINUED_RECORDINGS), ...Object.keys(PARK_RECORDINGS), 'roles-and-slack', 'agent-promotion', 'continued-as-new', 'browser-walk'];
    const unknown = (only ?? []).filter((n) => !names.includes(n));
    if (unknown.length > 0) throw new Error(`--only: no recording named ${unknown.join(', ')} (there are ${names.join(', ')})`);
    // Recording everything replaces the set; --only replaces just its own files.
    const stale = (f: string) => f.endsWith('.json') && (!only || only.some((n) => f === `${n}.json` || f.startsWith(`${n}.run`)));
    for (const file of readdirSync(OUT).filter(stale)) rmSync(resolve(OUT, file));
    for (const [recordings, on] of [
      [RECORDINGS, stack],
      [LOCAL_RECORDINGS, local],
      [LOCAL_CONTINUED_RECORDINGS, localCans],
      [PARK_RECORDINGS, parking],
    ] as const) {
      for (const [name, record] of Object.entries(recordings)) {
        if (!wanted(name)) continue;
        const id = await record(on);
        await waitForStatus(on, id, undefined, 60_000);
        console.log(`${name}: ${(await writeRuns(on, name, id)).join(', ')}`);
      }
    }
    if (wanted('browser-walk')) {
      const browserSession = await recordBrowser(withSlack);
      console.log(`browser-walk: ${(await writeRuns(withSlack, 'browser-walk', browserSession)).join(', ')}`);
    }
    if (!only) await recordTheRest(stack, cans, withSlack, slack, secret);
  } finally {
    await withSlack.close();
    await slack.close();
    await cans.close();
    await local.close();
    await localCans.close();
    await parking.close();
    await stack.close();
    await services.stop();
  }
}

/** The recordings that need more than one stack (Slack, continue-as-new) or are not sessions (a promotion). */
async function recordTheRest(stack: Stack, cans: Stack, withSlack: Stack, slack: FakeSlack, secret: string): Promise<void> {
  {
    const slackSession = await recordSlackGate(withSlack, slack, secret);
    await waitForStatus(withSlack, slackSession, undefined, 60_000);
    // Let the last message update land before the history is read.
    await waitFor(
      () => slack.calls.some((c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks).includes('Approved')),
      20_000,
      'the message to show the approval',
    );
    console.log(`roles-and-slack: ${(await writeRuns(withSlack, 'roles-and-slack', slackSession)).join(', ')}`);
    const promotionId = await recordPromotion(stack);
    console.log(`agent-promotion: ${(await writeRuns(stack, 'agent-promotion', promotionId)).join(', ')}`);
    const long = await startSession(cans, { message: 'go', metadata: { scenario: 'multi-step', repeat: '6' } });
    await waitForStatus(cans, long.id, undefined, 90_000);
    console.log(`continued-as-new: ${(await writeRuns(cans, 'continued-as-new', long.id)).join(', ')}`);
  }
}

await main();

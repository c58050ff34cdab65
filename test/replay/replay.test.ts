/**
 * Every history recorded from real sessions (test/histories/, by
 * `make record-histories`) replays against the current workflow code with the
 * production interceptors and data converter; a nondeterministic edit fails.
 */
import { readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { keyringFromConfig } from '../../temporal/codec/from-config.js';
import { DevKeyring } from '../../temporal/codec/keyring.js';
import { isEncrypted, payloadKeyId } from '../../temporal/codec/payload-codec.js';
import { readHistoryFile, replayHistories, type HistoryToReplay } from '../../temporal/replay.js';
import { activitiesScheduled, localActivityTypes, patchIds } from '../support/history-events.js';
import { codecPayloadsOf } from '../support/payloads.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { DECISIONS_WITH_STEP_PATCH, LOCAL_MODEL_CALLS_PATCH, SANDBOX_PARK_PATCH } from '../../workflows/session-patches.js';

const DIR = resolve(REPO_ROOT, 'test/histories');
/** The test keyring: the derived test keys (version 1) and test/fixtures/payload-keys.json (acme-codec versions 2, 3). */
const KEYRING = keyringFromConfig({ KORTIX_ENV: 'test', KORTIX_DATA_DIR: resolve(DIR, 'no-data-dir'), PAYLOAD_CODEC_RING: resolve(REPO_ROOT, 'test/fixtures/payload-keys.json') });
const ENCRYPTED = 'encrypted/rotated-mid-session.json';

let currentBundle: ReturnType<typeof loadWorkflowBundle> | undefined;
/** The current workflow code, bundled once for the tests that replay against it. */
const bundleOnce = () => (currentBundle ??= loadWorkflowBundle());
let histories: HistoryToReplay[];

beforeAll(async () => {
  // Every recorded set: current/ and the sets recorded by earlier versions of the code.
  const files = readdirSync(DIR, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.json'))
    .sort();
  histories = await Promise.all(
    files.map(async (f) => ({ name: f, workflowId: basename(f, '.json'), history: await readHistoryFile(resolve(DIR, f)) })),
  );
});

describe('recorded histories', () => {
  it('cover approved, rejected and timed-out gates, roles and Slack, cancel, limits and continue-as-new, now and from earlier code', () => {
    const names = histories.map((h) => h.name);
    for (const set of ['current', 'signed-votes', 'observability', 'foundation']) {
      for (const expected of ['approved-by-two.json', 'rejected.json', 'approval-timed-out.json', 'cancelled-at-gate.json', 'continued-as-new.run1.json']) {
        expect(names).toContain(`${set}/${expected}`);
      }
    }
    for (const set of ['current', 'signed-votes', 'observability']) expect(names).toContain(`${set}/roles-and-slack.json`);
    // Recorded through the API's Update with signed votes: queried between votes, a forged vote refused; an agent promotion's gate.
    for (const set of ['current', 'signed-votes']) {
      for (const name of ['queried-then-approved', 'forged-vote-refused', 'agent-promotion']) expect(names).toContain(`${set}/${name}.json`);
    }
    // Exported from a `make dev` walk-through whose closing vote came through the API's Update (issue 10).
    expect(names).toContain('evidence/walkthrough-update-approved.json');
  });

  it('current/ was recorded with the step decisions carried by the tool activity (issue 16); signed-votes/ before it', () => {
    const carried = (set: string) => histories.filter((h) => h.name.startsWith(`${set}/`) && patchIds(h.history.events ?? []).includes(DECISIONS_WITH_STEP_PATCH)).map((h) => basename(h.name));
    expect(carried('current')).toEqual(expect.arrayContaining(['malformed-tool-call.json', 'max-steps.json', 'continued-as-new.run1.json']));
    expect(carried('signed-votes')).toEqual([]);
  });

  it('current/ has sessions whose sandbox was parked while they waited on a gate or for a message (issue 16), and one the host kept', () => {
    const byName = (name: string) => histories.find((h) => h.name === `current/${name}.json`)?.history.events ?? [];
    for (const [name, parks, claims] of [
      ['parked-at-gate', 1, 2],
      ['park-refused', 1, 1],
      ['parked-follow-up', 2, 2],
    ] as const) {
      const events = byName(name);
      expect(patchIds(events)).toContain(SANDBOX_PARK_PATCH);
      expect([activitiesScheduled(events, 'parkSandbox'), activitiesScheduled(events, 'claimSandbox')]).toEqual([parks, claims]);
    }
  });

  it('current/ has sessions whose model calls ran as local activities (issue 16): a marker per call, no llmStep activity', () => {
    const local = histories.filter((h) => h.name.startsWith('current/local-model-calls'));
    expect(local.map((h) => basename(h.name)).sort()).toEqual([
      'local-model-calls-approved.json',
      // Continued as new: the second run calls the model locally too (the setting is in the carried input).
      'local-model-calls-continued.run1.json',
      'local-model-calls-continued.run2.json',
      'local-model-calls-follow-up.json',
      'local-model-calls.json',
    ]);
    for (const h of local) {
      const events = h.history.events ?? [];
      expect(patchIds(events)).toContain(LOCAL_MODEL_CALLS_PATCH);
      expect(localActivityTypes(events).length).toBeGreaterThanOrEqual(2);
      expect(activitiesScheduled(events, 'llmStep')).toBe(0);
    }
  });

  it('include a session with encrypted payloads (scripts/record-encrypted-history.ts), under two key versions', () => {
    const encrypted = histories.find((h) => h.name === ENCRYPTED);
    expect(encrypted).toBeDefined();
    const payloads = codecPayloadsOf(encrypted?.history);
    expect(payloads.length).toBeGreaterThan(10);
    expect(payloads.filter((p) => !isEncrypted(p))).toEqual([]);
    expect([...new Set(payloads.map((p) => payloadKeyId(p)))].sort()).toEqual(['acme-codec#2', 'acme-codec#3']);
  });

  it('the encrypted one replays only with the keys that wrote it', async () => {
    const encrypted = histories.filter((h) => h.name === ENCRYPTED);
    const [without] = await replayHistories(encrypted, await bundleOnce(), new DevKeyring());
    expect(without?.ok).toBe(false);
    expect(without?.error).toContain('no payload key acme-codec#2');
  });

  it('all replay against the current workflow code', async () => {
    const outcomes = await replayHistories(histories, await bundleOnce(), KEYRING);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(outcomes).toHaveLength(histories.length);
  });

  it('a nondeterministic change to the workflow is caught', async () => {
    const bundle = await loadWorkflowBundle({ workflowsPath: fileURLToPath(new URL('./nondeterministic-workflows.ts', import.meta.url)) });
    const outcomes = await replayHistories(histories, bundle, KEYRING);
    expect(outcomes).toHaveLength(histories.length);
    for (const outcome of outcomes) {
      expect(outcome.ok, outcome.name).toBe(false);
      expect(outcome.nondeterministic, `${outcome.name}: ${outcome.error}`).toBe(true);
    }
  });
});

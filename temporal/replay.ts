/**
 * Replays recorded histories against the current workflow code with the
 * production interceptors and data converter: a change that would break a
 * running session fails here (a DeterminismViolationError) before it ships.
 */
import type { ExternalStorage } from '@temporalio/common';
import { readFile } from 'node:fs/promises';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../config/index.js';
import { keyringFromConfig, kortixDataConverter, replayCodec } from './codec/from-config.js';
import type { PayloadKeyring } from './codec/keyring.js';
import { workerInterceptors, workerSinks, type WorkflowBundle } from './worker-options.js';

export interface HistoryToReplay {
  /** Where it came from (a file, a session id and run). */
  readonly name: string;
  readonly workflowId: string;
  readonly history: History;
}

export interface ReplayOutcome {
  readonly name: string;
  readonly workflowId: string;
  readonly ok: boolean;
  /** The code of the session changed in a way this history cannot follow. */
  readonly nondeterministic: boolean;
  readonly error?: string;
}

/** A history as Temporal writes it (Web UI download, `temporal workflow show --output json`, our recorder). */
export async function readHistoryFile(path: string): Promise<History> {
  return historyFromJSON(JSON.parse(await readFile(path, 'utf8')));
}

/**
 * Replays with the production codec: encrypted payloads decode with `keyring` (default: the
 * configuration's, PAYLOAD_CODEC_RING and outside production the dev keys); unencrypted ones pass through.
 */
export async function replayHistories(
  histories: readonly HistoryToReplay[],
  bundle: WorkflowBundle,
  keyring: PayloadKeyring = keyringFromConfig(loadConfig()),
  /** Where payloads kept by reference are read (a history file as the server has it); the client's fetchHistory inlines them already. */
  externalStorage?: ExternalStorage,
): Promise<ReplayOutcome[]> {
  const dataConverter = kortixDataConverter(replayCodec(keyring), externalStorage);
  // Runs of one session share a workflow id: match results to inputs in order.
  const byId = new Map<string, HistoryToReplay[]>();
  for (const h of histories) byId.set(h.workflowId, [...(byId.get(h.workflowId) ?? []), h]);
  const outcomes: ReplayOutcome[] = [];
  const results = Worker.runReplayHistories(
    // The same sinks as a running worker (spans of a replay are dropped: replay never exports).
    { workflowBundle: bundle, interceptors: workerInterceptors(), sinks: workerSinks(undefined), dataConverter, replayName: 'kortix-replay' },
    histories.map((h) => ({ workflowId: h.workflowId, history: h.history })),
  );
  for await (const result of results) {
    const source = byId.get(result.workflowId)?.shift();
    outcomes.push({
      name: source?.name ?? result.workflowId,
      workflowId: result.workflowId,
      ok: result.error === undefined,
      nondeterministic: result.error instanceof DeterminismViolationError,
      ...(result.error ? { error: result.error.message } : {}),
    });
  }
  return outcomes;
}

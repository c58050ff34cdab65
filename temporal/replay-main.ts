/**
 * `npm run replay -- <session id | history file | directory> ...`
 * Replays against the current workflow code and says, per run, whether it is
 * deterministic. A session id fetches every run of that session from
 * TEMPORAL_ADDRESS. Exit code 1 when any history does not replay.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadConfigOrExit } from '../config/index.js';
import { createTemporalClient } from './client.js';
import { keyringFromConfig } from './codec/from-config.js';
import { readHistoryFile, replayHistories, type HistoryToReplay } from './replay.js';
import { loadWorkflowBundle } from './worker-options.js';
import { objectStoreFromConfig } from '../storage/from-config.js';
import { payloadStorage } from './payload-storage.js';

/** A wrong argument: said in one line, exit code 2. */
class UsageError extends Error {}

async function fromPath(path: string): Promise<HistoryToReplay[]> {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(path, f))
    : [path];
  return Promise.all(
    files.map(async (file) => ({ name: file, workflowId: basename(file, '.json'), history: await readHistoryFile(file) })),
  );
}

async function fromSession(sessionId: string): Promise<HistoryToReplay[]> {
  const config = loadConfigOrExit();
  const client = await createTemporalClient(config);
  try {
    const runs: { runId: string; startTime: Date }[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${sessionId.replaceAll("'", '')}'` })) {
      runs.push({ runId: run.runId, startTime: run.startTime });
    }
    if (runs.length === 0) throw new UsageError(`no session ${sessionId} on ${config.TEMPORAL_ADDRESS} (and no file of that name)`);
    runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    // Awaited here: returned unawaited, the `finally` below closed the connection under the
    // fetches, and the client's retry then crashed the process ("Channel has been shut down").
    return await Promise.all(
      runs.map(async (run, i) => ({
        name: `${sessionId} run ${i + 1} (${run.runId})`,
        workflowId: sessionId,
        history: await client.workflow.getHandle(sessionId, run.runId).fetchHistory(),
      })),
    );
  } finally {
    await client.connection.close();
  }
}

async function main(args: string[]): Promise<number> {
  if (args.length === 0) {
    process.stderr.write('usage: npm run replay -- <session id | history file | directory> ...\n');
    return 2;
  }
  const histories: HistoryToReplay[] = [];
  for (const arg of args) histories.push(...(existsSync(arg) ? await fromPath(arg) : await fromSession(arg)));
  // Encrypted payloads decode with the configuration's keyring (PAYLOAD_CODEC_RING; the dev keys outside production).
  // The bundle the workers run when there is one (WORKFLOW_BUNDLE_PATH: the image, the tests' stacks), else the code here.
  const config = loadConfigOrExit();
  // History files hold large payloads as references to the object store (temporal/payload-storage.ts).
  const storage = payloadStorage(config, objectStoreFromConfig(config));
  const outcomes = await replayHistories(histories, await loadWorkflowBundle({ bundlePath: config.WORKFLOW_BUNDLE_PATH }), keyringFromConfig(config), storage);
  for (const o of outcomes) {
    const verdict = o.ok ? 'deterministic' : o.nondeterministic ? 'NONDETERMINISTIC' : 'FAILED';
    process.stdout.write(`${verdict.padEnd(16)} ${o.name}${o.error ? `\n                 ${o.error.split('\n')[0]}` : ''}\n`);
  }
  const bad = outcomes.filter((o) => !o.ok).length;
  process.stdout.write(`${outcomes.length - bad} of ${outcomes.length} histories replay against the current code\n`);
  return bad === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`replay: ${err.message}\n`);
  return 2;
});

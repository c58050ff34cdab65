/**
 * One process of `npm run bench -- --only=stack-traces` (bench/stack-traces.ts): replays every recorded history of
 * test/histories/current ROUNDS times after one warm-up round, in this process's main thread (the SDK's replay worker
 * runs workflows there), with whatever stack-trace preload the parent gave it (`--require`), and prints the CPU time
 * per replayed workflow as the last line of its output (JSON).
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { REPO_ROOT } from '../config/index.js';
import { readHistoryFile, replayHistories } from '../temporal/replay.js';
import { loadWorkflowBundle } from '../temporal/worker-options.js';

const dir = join(REPO_ROOT, 'test/histories/current');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const histories = await Promise.all(files.map(async (f) => ({ name: f, workflowId: basename(f, '.json'), history: await readHistoryFile(join(dir, f)) })));
const bundle = await loadWorkflowBundle();
const rounds = Number(process.env.ROUNDS ?? '4');
// The warm-up round: the bundle's first load, V8's first compiles; and a check that every history replays here.
const failed = (await replayHistories(histories, bundle)).filter((o) => !o.ok);
if (failed.length > 0) throw new Error(`histories that do not replay: ${failed.map((o) => `${o.name}: ${o.error}`).join('; ')}`);
const cpu = process.cpuUsage();
const start = performance.now();
for (let i = 0; i < rounds; i++) await replayHistories(histories, bundle);
const used = process.cpuUsage(cpu);
const replayed = rounds * histories.length;
console.log(JSON.stringify({ replayed, cpuMsPerWorkflow: (used.user + used.system) / 1000 / replayed, wallMsPerWorkflow: (performance.now() - start) / replayed }));

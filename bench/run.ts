/**
 * `npm run bench` (or `make bench`): runs the benchmarks on this machine and
 * writes bench/results/<name>.json, then prints a short table.
 *   --only=archive|session-latency|throughput|make-dev|router|sandbox|sandbox-cpu|browser|web|semantic-cache|local-model|pg-bytes|session-writes|workflow-footprint|stack-traces   run one of them
 *   throughput: --sessions=50 --steps=5 --variants=noeager,default --servers=dev,cluster --model-delay-ms=0 --worker-process --worker-build=compiled --worker-cpu-prof=DIR --load-only --tag=name
 *     (bench/throughput-variants.ts: default, noeager, rollback, autoscaling, local, nostack, eagerstack, threadgc, jemalloc, cacheN, poolN, arenaN, wftN, actN, evictN, growN, joined with +: pool64+cache100;
 *     --servers: each variant on the dev server (default) and/or the cluster's Temporal on Postgres, bench/throughput-server.ts;
 *     noeager and rollback are dev-server settings, refused on the cluster)
 *   sandbox-cpu: --calls-only (the per-call costs alone, ~1 minute) --tag=name (bench/results/sandbox-cpu-name.json)
 * Targets are read from these numbers, never asserted in tests.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { REPO_ROOT } from '../config/index.js';
import { startServices } from '../test/support/services.js';
import { benchArchive } from './archive.js';
import { benchBrowser } from './browser.js';
import { compileWorker, type CompiledWorker } from './compiled-worker.js';
import { benchLocalModel } from './local-model.js';
import { benchMakeDev } from './make-dev.js';
import { benchPgBytes } from './pg-bytes.js';
import { benchSessionWrites } from './session-writes.js';
import { benchStackTraces } from './stack-traces.js';
import { benchRouter } from './router.js';
import { benchSandbox } from './sandbox.js';
import { benchSandboxCpu } from './sandbox-cpu.js';
import { benchSemanticCache } from './semantic-cache.js';
import { benchSessionLatency } from './session-latency.js';
import { benchThroughput, floorBundle, type VariantResult } from './throughput.js';
import { printThroughput } from './throughput-table.js';
import { throughputVariant } from './throughput-variants.js';
import { parseServers, throughputRuns } from './throughput-server.js';
import { machineSpeed } from './machine-speed.js';
import { benchWeb } from './web.js';
import { benchWorkflowFootprint } from './workflow-footprint.js';

/** The value of `--name=value`, if given. */
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = arg('only');
const speed = machineSpeed();
const machine = { cpus: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, at: new Date().toISOString(), speed };
console.log(`machine: ${machine.cpus} cores; first touch of a page ${speed.pageFaultUs} µs, spawn of /bin/true ${speed.spawnMs} ms, CPU loop ${speed.cpuLoopMs} ms (bench/machine-speed.ts)`);

function save(name: string, result: unknown): void {
  writeFileSync(resolve(REPO_ROOT, 'bench/results', `${name}.json`), `${JSON.stringify({ machine, result }, null, 2)}\n`);
}

if (!only || only === 'session-latency') {
  const services = await startServices('bench');
  try {
    const one = await benchSessionLatency(services.values, 1, 10);
    const twenty = await benchSessionLatency(services.values, 20, 1);
    save('session-latency', { concurrency1: one, concurrency20: twenty });
    console.log('\nsession latency (ms)            1 session p50/p95    20 sessions p50/p95');
    for (const [label, key] of [
      ['POST → first model call', 'startToFirstModelCallMs'],
      ['step orchestration overhead', 'stepOverheadMs'],
      ['step total (model+tool+overhead)', 'stepTotalMs'],
      ['tool (docker exec, trivial)', 'toolMs'],
    ] as const) {
      console.log(`${label.padEnd(34)}${`${one[key].p50} / ${one[key].p95}`.padEnd(21)}${twenty[key].p50} / ${twenty[key].p95}`);
    }
  } finally {
    await services.stop();
  }
}

if (!only || only === 'throughput') {
  const sessions = Number(arg('sessions') ?? 50);
  const steps = Number(arg('steps') ?? 5);
  const modelDelayMs = Number(arg('model-delay-ms') ?? 0);
  const workerProcess = process.argv.includes('--worker-process');
  const workerCpuProfDir = arg('worker-cpu-prof');
  // --worker-build=compiled: the worker process runs the platform image's JavaScript (tsc), not TypeScript under tsx.
  const workerBuild = arg('worker-build') ?? 'tsx';
  if (workerBuild !== 'tsx' && workerBuild !== 'compiled') throw new Error(`--worker-build: tsx or compiled, not ${workerBuild}`);
  if (workerBuild === 'compiled' && !workerProcess) throw new Error('--worker-build=compiled needs --worker-process');
  const loadOnly = process.argv.includes('--load-only');
  const variants = (arg('variants') ?? 'default').split(',').map(throughputVariant);
  // Checked before any service starts: a refused variant fails the run at once.
  const runs = throughputRuns(variants, parseServers(arg('servers')));
  const services = await startServices('bench');
  let compiled: CompiledWorker | undefined;
  try {
    const bundle = await floorBundle();
    compiled = workerBuild === 'compiled' ? compileWorker() : undefined;
    const results: VariantResult[] = [];
    // --tag=x writes bench/results/throughput-x.json: runs with other options keep their own file.
    const tag = arg('tag');
    for (const run of runs) {
      results.push(await benchThroughput(services.values, run, { sessions, steps, floorBundle: bundle, modelDelayMs, workerProcess, workerCpuProfDir, compiledWorker: compiled?.script, loadOnly }));
      // After each variant: a run cut short still leaves the variants it finished.
      save(tag ? `throughput-${tag}` : 'throughput', { command: process.argv.slice(2).join(' '), results });
      printThroughput(results);
    }
  } finally {
    compiled?.remove();
    await services.stop();
  }
}

if (!only || only === 'archive') {
  const r = await benchArchive();
  save('archive', r);
  console.log(`\narchive of one month (${r.rows} event rows, ${r.contentMb} MB JSON Lines → ${r.compressedMb} MB gzip): archive ${r.archiveMbPerSecond} MB/s (${r.archiveSeconds} s), restore ${r.restoreMbPerSecond} MB/s (${r.restoreSeconds} s), identical after restore: ${r.identical}`);
}

if (!only || only === 'pg-bytes') {
  const services = await startServices('bench');
  try {
    const r = await benchPgBytes(services.values);
    save('pg-bytes', r);
    const mb = (n: number) => (n / 1_048_576).toFixed(2);
    console.log(`\nPostgres bytes of a tool-heavy session (${r.toolCalls} shell calls, ~1 MB output each): ${r.reduction}× less with the artifact offload`);
    for (const x of r.runs) {
      const p = x.pgBytes;
      console.log(`  ${x.mode.padEnd(8)} cap ${x.outputLimitBytes} B: ${mb(p.total)} MB in Postgres (events ${mb(p.session_events)}, messages ${mb(p.messages)}, llm_calls ${mb(p.llm_calls)}, artifacts ${mb(p.artifacts)}), ${mb(x.objectStoreBytes)} MB in the object store, of ${mb(x.toolOutputBytes)} MB tool output`);
    }
  } finally {
    await services.stop();
  }
}

if (!only || only === 'workflow-footprint') {
  const r = await benchWorkflowFootprint();
  save('workflow-footprint', r);
  const x = r.ratio;
  console.log(`\nworkflow footprint (${r.workflows} workflows in the SDK's shared V8 context; shared / per-workflow: heap created ×${x.perWorkflowKb}, started ×${x.perStartedSessionKb}, creation p50 ×${x.createMsP50})`);
  for (const run of r.runs) {
    const started = `started session ${run.perStartedSessionKb} KB, ${run.startMs.p50} / ${run.startMs.p95} ms`;
    console.log(`  ${run.bundle.padEnd(13)} context ${run.contextMb} MB; created ${run.perWorkflowKb} KB, ${run.createMs.p50} / ${run.createMs.p95} ms; ${started}`);
  }
}

if (!only || only === 'make-dev') {
  const result = await benchMakeDev();
  save('make-dev', result);
  console.log(`\nmake dev → API ready: warm ${result.warmSeconds} s, cold ${result.coldSeconds} s (${result.coldMeans})`);
}

if (!only || only === 'router') {
  const result = await benchRouter();
  save('router', result);
  const { inMemoryStores: mem, postgresStores: pgs } = result.overheadMs;
  const w = result.workload;
  console.log(`\nrouter overhead per call (ms, p50 / p95): in-memory stores ${mem.p50} / ${mem.p95}, Postgres stores ${pgs.p50} / ${pgs.p95} (prompt ~${mem.promptTokens} tokens)`);
  console.log(`cache hit with Postgres (ms, p50 / p95): ${result.cacheHitMs.p50} / ${result.cacheHitMs.p95}`);
  console.log(`reference workload (${w.requests} requests): routed $${w.routedUsd} vs ${w.cloudModel} always $${w.cloudUsd}: ${w.savingPct}% saved; below tier: ${w.belowTier}, above tier: ${w.aboveTier}`);
}

if (!only || only === 'sandbox') {
  const r = await benchSandbox();
  save('sandbox', r);
  const { warm, cold, coldOverWarmP95 } = r.claimToFirstCommandMs;
  console.log(`\nsandbox claim → first command (ms, p50 / p95): warm ${warm.p50} / ${warm.p95}, cold ${cold.p50} / ${cold.p95} (cold/warm p95 ×${coldOverWarmP95})`);
  const rt = r.trueRoundTripMs;
  console.log(`\`true\` round trip (ms, p50 / p95): exec channel ${rt.channel.p50} / ${rt.channel.p95} (back to back ${rt.channelBackToBack.p50} / ${rt.channelBackToBack.p95}), one-shot docker exec ${rt.oneShotDockerExec.p50} / ${rt.oneShotDockerExec.p95}; ${rt.cpuMsPerCall} ms CPU per call`);
  console.log(`sessions per minute with maxTotal ${r.sessionsPerMinute.maxTotal} (hold ${r.sessionsPerMinute.holdSeconds} s) before claims wait: ${r.sessionsPerMinute.sustainedPerMinute}`);
  console.log(`memory per idle container (MB, p50 / max): ${r.idleContainerMemoryMb.p50} / ${r.idleContainerMemoryMb.max}`);
}

if (!only || only === 'session-writes') {
  const r = await benchSessionWrites();
  save('session-writes', r);
  const seq = r.sequential;
  const con = r.concurrent;
  console.log(`\nsession records of a tool step (llmStep and execTool's writes, no model, no tool): ${seq.roundTripsPerStep} round trips to Postgres, wall p50 / p95 ${seq.wallMs.p50} / ${seq.wallMs.p95} ms one at a time`);
  console.log(`  ${con.concurrency} sessions at once: ${con.stepsPerSecond} steps/s, CPU per step ${con.cpuMsPerStep.bench} ms here (activities, kysely, pg) + ${con.cpuMsPerStep.postgres} ms Postgres`);
}

if (!only || only === 'stack-traces') {
  const r = benchStackTraces();
  save('stack-traces', r);
  const m = r.meanCpuMsPerWorkflow;
  console.log(`\nworkflow stack traces: CPU per replayed workflow (test/histories/current, ${r.rounds} rounds a process, modes alternated)`);
  console.log(`  eager (the SDK's hook) ${m.eager} ms, lazy ${m.lazy} ms (×${r.ratio.lazy}), off ${m.off} ms (×${r.ratio.off})`);
}

if (!only || only === 'sandbox-cpu') {
  // --calls-only: the per-call costs alone; --tag=x writes bench/results/sandbox-cpu-x.json.
  const tag = arg('tag');
  const r = await benchSandboxCpu({ callsOnly: process.argv.includes('--calls-only') });
  save(tag ? `sandbox-cpu-${tag}` : 'sandbox-cpu', r);
  const line = (x: typeof r.perToolCall) => `machine ${x.machineMs} ms (containers ${x.containersMs}, Docker's daemons ${x.dockerMs}), wall ${x.wallMs} ms`;
  console.log(`\nsandbox CPU per tool call (\`true\` over the exec channel, ${r.calls} back to back): ${line(r.perToolCall)}`);
  console.log(`sandbox CPU per tool call that prints (the throughput bench's command, ${r.calls} back to back): ${line(r.perToolCallWithOutput)}`);
  if (r.perSandbox) console.log(`sandbox CPU per sandbox (cold claim, one \`true\`, release and removal, ${r.lifecycles} one after another): ${line(r.perSandbox)}`);
  for (const x of r.idle?.perSandboxSecond ?? []) {
    const check = `${x.healthCheckIntervalMs > 0 ? `the engine's health check every ${x.healthCheckIntervalMs / 1000} s` : 'no engine health check'}${x.browser ? ', claimed warm with its idle browser' : ''}`;
    console.log(`sandbox CPU per held idle sandbox and second (${x.sandboxes} held ${x.seconds} s, ${check}): machine ${x.machineMs} ms (containers ${x.containersMs}, Docker's daemons ${x.dockerMs})`);
  }
  if (r.idle) console.log(`one engine health check: ${r.idle.perEngineHealthCheckMs} ms of machine CPU (machine's own baseline ${r.idle.baselineMachineMsPerSecond} ms/s)`);
}

if (!only || only === 'browser') {
  const r = await benchBrowser();
  save('browser', r);
  const { warm, cold, coldOverWarmP95, gotoOnlyWarm } = r.claimToFirstGotoMs;
  console.log(`\nbrowser claim → first goto rendered (ms, p50 / p95): warm ${warm.p50} / ${warm.p95}, cold ${cold.p50} / ${cold.p95} (cold/warm p95 ×${coldOverWarmP95}); the goto alone (warm) ${gotoOnlyWarm.p50} / ${gotoOnlyWarm.p95}`);
  const m = r.idleSandboxMemoryMb;
  console.log(`memory per idle sandbox with its browser (MB, p50 / max of ${m.count}): ${m.p50} / ${m.max}; ${m.fitInMachineMemory} fit in this machine's ${m.machineMemoryMb} MB`);
  console.log(`extract round trip (ms, p50 / p95): ${r.extractRoundTripMs.p50} / ${r.extractRoundTripMs.p95}`);
}

if (!only || only === 'web') {
  const services = await startServices('bench');
  try {
    const r = await benchWeb(services.values);
    save('web', r);
    console.log(`\nweb console JS gzipped: first page ${r.bundle.firstPageJsGzipKb} KB (goal < 250), all ${r.bundle.allJsGzipKb} KB in ${r.bundle.jsFiles} files`);
    for (const [label, m] of [['session list', r.sessionList], [`live session, ${r.liveSession200Steps.steps} steps`, r.liveSession200Steps]] as const) {
      console.log(`${label}: first contentful paint p50 ${m.firstContentfulPaintMs.p50} ms, content there p50 ${m.contentReadyMs.p50} / p95 ${m.contentReadyMs.p95} ms`);
    }
  } finally {
    await services.stop();
  }
}

if (!only || only === 'semantic-cache') {
  const r = await benchSemanticCache();
  save('semantic-cache', r);
  const l = r.labelled;
  console.log(`\nsemantic cache (${r.embedder.split(' (')[0]}, threshold ${r.threshold}): paraphrase hit rate ${l.hitRatePct}% of ${l.paraphrasePairs} pairs, false hits ${l.falseHits} of ${l.differentPairs} hard negatives`);
  for (const s of r.sweep) console.log(`  threshold ${s.threshold}: hit rate ${s.hitRatePct}%, false hits ${s.falseHits} (without the literal guard ${s.falseHitsWithoutLiteralGuard})`);
  for (const m of r.money.runs) console.log(`  ${m.label.padEnd(17)} ${m.requests} requests, ${m.upstreamCalls} upstream, exact hits ${m.exactHits}, semantic hits ${m.semanticHits}, false hits ${m.falseHits}: $${m.costUsd} spent, $${m.savedUsd} saved`);
  const pgl = r.postgres;
  console.log(`  router time per miss with Postgres (ms, p50 / p95): ${pgl.routerMsWithSemantic.p50} / ${pgl.routerMsWithSemantic.p95} with the lookup over ${pgl.candidates} candidates, ${pgl.routerMsWithoutSemantic.p50} / ${pgl.routerMsWithoutSemantic.p95} without`);
}

if (!only || only === 'local-model') {
  const r = await benchLocalModel();
  save('local-model', r);
  const o = r.overhead;
  console.log(`\nlocal model (${r.model.name}, Ollama, this machine's CPU): router call p50 ${o.routerCallMs.p50} ms vs direct HTTP ${o.directHttpMs.p50} ms (+${o.routerOverP50Ms} ms, ${o.routerOverP50Pct}%); time in the router p50 ${o.timeInRouterMs.p50} ms`);
  console.log(`  first token p50 / p95 ${r.firstTokenMs.p50} / ${r.firstTokenMs.p95} ms; generation ${r.generationTokensPerSecond.p50} tokens/s, prompt ${r.promptTokensPerSecond.p50} tokens/s (p50)`);
  if (r.residentMemory) console.log(`  resident memory with the model loaded: ollama serve ${r.residentMemory.serveMb} MB + runner ${r.residentMemory.children.map((c) => c.rssMb).join(' + ')} MB = ${r.residentMemory.totalMb} MB`);
  console.log(`  one semantic-cache lookup's embedding on the local server, p50 / p95: ${r.semanticLookup.embedMs.p50} / ${r.semanticLookup.embedMs.p95} ms`);
  const w = r.workload;
  console.log(`  reference workload (${w.requests} requests, ${w.servedLocally} served locally): $${w.withLocalUsd} with the small tier local vs $${w.smallTierOnCloudUsd} with it on the cloud (${w.savedBySmallTierLocalPct}% saved), $${w.cloudAlwaysUsd} for ${w.cloudModel} always (${w.savedVsCloudAlwaysPct}% saved)`);
}

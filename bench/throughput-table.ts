/**
 * The throughput bench's table (bench/throughput.ts): one row per measure, one column per variant. The results
 * files hold everything it prints and more.
 */
import type { CpuOver } from './sustained.js';
import type { Summary } from './stats.js';
import { printPhases } from './step-phases.js';
import type { VariantResult } from './throughput.js';
import { describeWorkerMemory } from './worker-memory.js';

/** The table: one row per measure, one column per variant (ours / floor where it applies). */
export function printThroughput(results: readonly VariantResult[]): void {
  const col = (s: string) => s.padEnd(26);
  console.log(`\nthroughput (ms unless said)           ${results.map((r) => col(r.label)).join('')}`);
  const row = (label: string, f: (r: VariantResult) => string) => console.log(`${label.padEnd(38)}${results.map((r) => col(f(r))).join('')}`);
  const pair = (s: Summary | undefined) => (s ? `${s.p50} / ${s.p95}` : '-');
  row('floor step p50/p95, 1 wf', (r) => pair(r.floorStepMs?.concurrency1));
  row('floor step p50/p95, 20 wf', (r) => pair(r.floorStepMs?.concurrency20));
  row('our step overhead p50/p95, 1 session', (r) => `${pair(r.stepOverheadMs?.concurrency1)} (×${r.overheadOverFloorP50?.concurrency1 ?? '-'})`);
  row('our step overhead p50/p95, 20', (r) => `${pair(r.stepOverheadMs?.concurrency20)} (×${r.overheadOverFloorP50?.concurrency20 ?? '-'})`);
  row('load: sessions × steps, pool, cache', (r) => `${r.load.sessions} × ${r.load.stepsPerSession}, ${r.poolMaxTotal}, ${r.maxCachedWorkflows ?? 'SDK default'}`);
  row('load: model delay, worker', (r) => `${r.modelDelayMs} ms, ${r.worker}`);
  row('load: tool steps/s', (r) => `${r.load.toolStepsPerSecond} (${r.load.seconds} s)`);
  const cpu = (c: CpuOver | null | undefined) => (c ? `${c.busyCores} cores busy, ${c.cpuMsPerToolStep} CPU ms/step` : '-');
  row('load: machine CPU over the load', (r) => cpu(r.load.machineCpu));
  row('load: sustained tool steps/s (window)', (r) => (r.load.sustained ? `${r.load.sustained.toolStepsPerSecond} (${r.load.sustained.toolSteps} in ${r.load.sustained.seconds} s)` : '- (no window)'));
  row('load: machine CPU in that window', (r) => cpu(r.load.sustained?.cpu));
  row('load: window CPU ms/step by group', (r) => {
    const g = r.load.sustained?.cpuMsPerToolStepByGroup;
    return g ? Object.entries(g).map(([k, v]) => `${k} ${v}`).join(', ') : '-';
  });
  row('load: failed/duplicated/missing', (r) => `${r.load.failedSessions + r.load.failedToolRuns}/${r.load.duplicatedToolRuns}/${r.load.missingToolRuns}`);
  row('load: step overhead p50/p95', (r) => `${r.load.stepOverheadMs.p50} / ${r.load.stepOverheadMs.p95}`);
  row('load: POST → 1st model call p50/p95', (r) => `${r.load.startToFirstModelCallMs.p50} / ${r.load.startToFirstModelCallMs.p95}`);
  row('load: answers at half time min/p50/max', (r) => `${r.load.progress.answersAtHalfTime.min}/${r.load.progress.answersAtHalfTime.p50}/${r.load.progress.answersAtHalfTime.max}`);
  row('load: longest gap/session p50/p95', (r) => `${r.load.progress.longestGapMs.p50} / ${r.load.progress.longestGapMs.p95}`);
  const holds = (r: VariantResult) => r.load.sandboxHolds;
  row('load: sandbox claim wait p50/p95', (r) => pair(holds(r)?.claimWaitMs));
  row('load: sandbox hold p50/p95', (r) => pair(holds(r)?.holdMs));
  row('load: hold after last tool p50/p95', (r) => pair(holds(r)?.afterLastToolMs));
  row('load: release p50/p95; hand-off', (r) => `${pair(holds(r)?.releaseMs)}; ${pair(holds(r)?.handoffMs)}`);
  row('load: pool utilisation, max holding', (r) => `${holds(r)?.utilisation ?? '-'}, ${holds(r)?.maxHolding ?? '-'}`);
  row('load: POST /v1/sessions p50/p95', (r) => `${r.load.postSessionMs.p50} / ${r.load.postSessionMs.p95} (n ${r.load.postSessionMs.n}, ${r.load.postFailures} refused)`);
  row('load: GET /v1/sessions/:id p50/p95', (r) => (r.load.getSessionMs ? `${pair(r.load.getSessionMs)} (n ${r.load.getSessionMs.n}, ${r.load.getFailures} refused)` : '-'));
  const stages = [...new Set(results.flatMap((r) => Object.keys(r.load.postStagesMs)))];
  for (const stage of stages) row(`load: POST stage ${stage} p50/p95`, (r) => pair(r.load.postStagesMs[stage]));
  row('load: RSS MB base/peak, per session', (r) => `${r.load.rssBaselineMb}/${r.load.rssPeakMb}, ${r.load.rssPerActiveSessionMb}`);
  row('load: sandbox worker RSS MB base/peak', (r) => (r.load.sandboxWorkerRssMb ? `${r.load.sandboxWorkerRssMb.baseline}/${r.load.sandboxWorkerRssMb.peak}` : '(one process)'));
  row('load: worker MB at peak: heap used/total, external, rest (of it: workflow threads, outside V8)', (r) => describeWorkerMemory(r.load.workerMemoryAtPeak));
  row('load: Temporal RSS peak MB', (r) => String(r.profile.temporalRssPeakMb ?? '-'));
  row('load: queue splits (mitigator)', (r) => Object.entries(r.profile.queueActions ?? {}).filter(([k]) => !/^slice.predicate/.test(k)).map(([k, n]) => `${k} ${n}`).join(', ') || '0');
  // Per tool step: heartbeats the server took, each also a write of the workflow's state (UpdateWorkflowExecution);
  // those writes; every request to its database.
  row('load: per step: beats; writes; db ops', (r) => {
    const steps = r.load.sessions * r.load.stepsPerSession;
    const per = (n: number | undefined) => (n === undefined ? '-' : String(Math.round((n / steps) * 100) / 100));
    const db = r.profile.persistenceRequests;
    const all = db ? Object.values(db).reduce((a, b) => a + b, 0) : undefined;
    // Counters that did not grow are left out of a result; results from before these counters have neither map.
    const requests = r.profile.serverRequests;
    return `${per(requests && (requests.RecordActivityTaskHeartbeat ?? 0))}; ${per(db?.UpdateWorkflowExecution)}; ${per(all)}`;
  });
  row('load: CPU s bench/worker/temporal/pg/docker', (r) => {
    const sandbox = r.profile.cpuSeconds.sandboxWorker;
    return `${['bench', 'worker', 'temporal', 'postgres', 'docker'].map((k) => r.profile.cpuSeconds[k]).join('/')}${sandbox !== undefined ? ` (sandbox worker ${sandbox})` : ''}`;
  });
  // The rest of the machine's busy time: the kernel, and short-lived processes (runc, container shims) no group holds.
  row('load: CPU s containers; rest of machine', (r) => {
    const groups = Object.values(r.profile.cpuSeconds).reduce((a, b) => a + b, 0);
    const busy = r.load.machineCpu?.busySeconds;
    return `${r.profile.cpuSeconds.containers ?? '-'}; ${busy !== undefined ? Math.round((busy - groups) * 10) / 10 : '-'}`;
  });
  if (results.some((r) => r.stepPhasesMs)) printPhases(results);
  for (const r of results) {
    const gap = r.load.longestGap;
    if (!gap) continue;
    console.log(`\n${r.label}: longest wait between a model answer and the next call, ${gap.gapMs} ms (${gap.sessionId}); its history, ms after the answer:`);
    for (const line of gap.history) console.log(`  ${line}`);
    console.log(`  session events: ${gap.events.join(', ')}`);
  }
}

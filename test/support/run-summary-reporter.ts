/**
 * A few lines after vitest's own summary: every failed and skipped test by
 * name, with the first line of its error or skip note, and the slowest files.
 * CI keeps only the tail of a run's output, where the default reporter has
 * room for the last failure alone; these lines name them all.
 */
import { statfsSync } from 'node:fs';
import { availableParallelism, freemem, loadavg } from 'node:os';
import type { Reporter, TestModule } from 'vitest/node';

const MAX_LINE = 700;
/** What the machine looked like at the end: a red run elsewhere is read against it. */
function machine(): string {
  const disk = statfsSync(process.cwd());
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return [
    `uid ${process.getuid?.() ?? '?'}`,
    `${availableParallelism()} cpus`,
    `load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    `${gib(freemem())} memory free`,
    `${gib(disk.bavail * disk.bsize)} disk free`,
  ].join(', ');
}
const oneLine = (s: string | undefined) => (s ?? '').split('\n').find((l) => l.trim() !== '')?.trim().slice(0, MAX_LINE) ?? '';

export default class RunSummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const failed: string[] = [];
    const skipped: string[] = [];
    for (const m of modules) {
      const where = `[${m.project.name}] ${m.moduleId.replace(`${process.cwd()}/`, '')}`;
      for (const e of m.errors()) failed.push(`${where}: ${oneLine(e.message)}`);
      for (const t of m.children.allTests()) {
        const r = t.result();
        if (r.state === 'failed') failed.push(`${where} > ${t.fullName}: ${oneLine(r.errors?.[0]?.message)}`);
        else if (r.state === 'skipped') skipped.push(`${where} > ${t.fullName}${r.note ? `: ${oneLine(r.note)}` : ''}`);
      }
    }
    const slowest = [...modules]
      .map((m) => ({ id: m.moduleId.replace(`${process.cwd()}/`, ''), ms: m.diagnostic().duration }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 8);
    const out = [
      '',
      `[run summary] ${failed.length} failed, ${skipped.length} skipped`,
      ...failed.map((l) => `  FAILED  ${l}`),
      ...skipped.map((l) => `  skipped ${l}`),
      `[run summary] machine: ${machine()}`,
      `[run summary] slowest files: ${slowest.map((s) => `${s.id} ${(s.ms / 1000).toFixed(0)} s`).join(', ')}`,
      '',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  }
}

/** `npm run kortix -- …` in process, as the tests run it: its exit code, printed lines and stderr. */
import { main as kortix } from '../../scripts/kortix.js';

export async function runKortix(env: Readonly<Record<string, string | undefined>>, argv: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => errors.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const code = await kortix([...argv], { ...env }, (l) => lines.push(l));
    return { code, out: lines.join('\n'), err: errors.join('') };
  } finally {
    process.stderr.write = write;
  }
}

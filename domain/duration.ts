/**
 * Parses `250ms`, `90s`, `30m`, `2h`, `1d` (or a sum like `1h30m`) into milliseconds: the one grammar of
 * durations, for policies and the configuration alike. Bottom layer: imports nothing of the project.
 */
export function parseDurationMs(text: string): number | undefined {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(amount) * (units[unit ?? 's'] ?? 0);
  }
  return total;
}

/**
 * Policy regexes run inside the workflow on text a model chose, so a pattern
 * that can backtrack without bound is refused when the policy loads. The check
 * walks the pattern once: a group that repeats without bound (`*`, `+`, `{n,}`,
 * `{n,m}` with m > 1) may not contain a quantifier or an alternation, which
 * covers `(a+)+`, `((a+))+`, `(a|aa)+` and `(.*a){10}`. Back-references
 * (numbered or named) are refused too.
 */

interface Group {
  hasQuantifier: boolean;
  hasAlternation: boolean;
}

/** Length of the unbounded-repeat quantifier starting at `i`, or 0 if there is none (or it is bounded to at most once). */
function repeatAt(pattern: string, i: number): number {
  const ch = pattern[i];
  if (ch === '*' || ch === '+') return 1;
  if (ch === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
    if (!m) return 0;
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
    return max > 1 ? m[0].length : 0;
  }
  return 0;
}

function quantifierAt(pattern: string, i: number): boolean {
  const ch = pattern[i];
  return ch === '*' || ch === '+' || ch === '?' || (ch === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(i)));
}

export function unsafeRegexReason(pattern: string): string | undefined {
  const stack: Group[] = [{ hasQuantifier: false, hasAlternation: false }];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(next) || next === 'k')) return 'back-references are not allowed';
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    const top = stack[stack.length - 1] as Group;
    if (ch === '[') {
      inClass = true;
    } else if (ch === '(') {
      stack.push({ hasQuantifier: false, hasAlternation: false });
    } else if (ch === '|') {
      top.hasAlternation = true;
    } else if (ch === ')') {
      const group = stack.pop() as Group;
      const parent = stack[stack.length - 1] as Group;
      const repeat = repeatAt(pattern, i + 1);
      if (repeat > 0 && (group.hasQuantifier || group.hasAlternation)) {
        return group.hasQuantifier
          ? 'a repeated group that contains a quantifier (like (a+)+) can backtrack without bound'
          : 'a repeated group with alternatives (like (a|aa)+) can backtrack without bound';
      }
      // What the group held counts for its parent too: ((a+))+ is (a+)+, ((a|aa))+ is (a|aa)+.
      parent.hasQuantifier ||= group.hasQuantifier || quantifierAt(pattern, i + 1);
      parent.hasAlternation ||= group.hasAlternation;
    } else if (quantifierAt(pattern, i)) {
      top.hasQuantifier = true;
    }
  }
  return undefined;
}

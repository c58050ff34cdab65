/** Two texts side by side, line against line, from the `diff` package's line diff: removed left, added right. */
import { diffLines } from 'diff';

interface Row {
  left: string | null;
  right: string | null;
  kind: 'same' | 'changed' | 'removed' | 'added';
}

export function sideBySideRows(a: string, b: string): Row[] {
  const rows: Row[] = [];
  let removed: string[] = [];
  const flush = (added: string[]) => {
    const n = Math.max(removed.length, added.length);
    for (let i = 0; i < n; i++) {
      const left = removed[i] ?? null;
      const right = added[i] ?? null;
      rows.push({ left, right, kind: left !== null && right !== null ? 'changed' : left !== null ? 'removed' : 'added' });
    }
    removed = [];
  };
  for (const part of diffLines(a, b)) {
    const lines = part.value.replace(/\n$/, '').split('\n');
    if (part.removed) removed.push(...lines);
    else if (part.added) flush(lines);
    else {
      flush([]);
      for (const line of lines) rows.push({ left: line, right: line, kind: 'same' });
    }
  }
  flush([]);
  return rows;
}

export function SideBySide({ a, b, fromLabel, toLabel }: { a: string; b: string; fromLabel: string; toLabel: string }) {
  const rows = sideBySideRows(a, b);
  return (
    <table className="diff">
      <caption className="sr-only">
        {fromLabel} against {toLabel}: removed lines on the left, added lines on the right
      </caption>
      <thead>
        <tr>
          <th scope="col">{fromLabel}</th>
          <th scope="col">{toLabel}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i} className={`diff-${r.kind}`}>
            <td className={r.kind === 'changed' || r.kind === 'removed' ? 'diff-old' : undefined}>
              {r.left !== null && (r.kind === 'same' ? r.left : <del>{r.left}</del>)}
            </td>
            <td className={r.kind === 'changed' || r.kind === 'added' ? 'diff-new' : undefined}>
              {r.right !== null && (r.kind === 'same' ? r.right : <ins>{r.right}</ins>)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

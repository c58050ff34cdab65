/**
 * The approvals inbox: the open gates this person may decide, polled every
 * two seconds so that another approver's vote shows without a reload. The
 * command or content is the API's `display` rendering, whole (it scrolls;
 * nothing is cut), with its sha256 and flags.
 */
import { useCallback, useEffect, useState } from 'react';
import { call } from '../api.js';
import { age } from '../format.js';
import { Link } from '../Link.js';
import type { InboxItem } from '../types.js';
import { Alert } from '../Alert.js';

const POLL_MS = 2_000;

const FLAG_TEXT: Record<string, string> = {
  non_ascii: 'non-ASCII characters',
  bidi: 'bidirectional-text controls (shown as ⟨U+…⟩)',
  zero_width: 'zero-width characters (shown as ⟨U+…⟩)',
  control: 'control characters (shown as ⟨U+…⟩)',
};

function Gate({ item, onVoted }: { item: InboxItem; onVoted: (message: string, ok: boolean) => void }) {
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const label = item.sessionId ? `${item.tool} in ${item.sessionId}` : `promotion of ${item.agent ?? 'an agent'}`;
  async function decide(decision: 'approve' | 'reject') {
    setBusy(true);
    try {
      // A session's gate is named in the body; a promotion has one gate, named by its link.
      const result = await call<{ counted: boolean; gate: { status: string } }>('POST', item.links.approve, {
        ...(item.sessionId ? { gateId: item.gateId } : {}),
        decision,
        ...(comment ? { comment } : {}),
      });
      onVoted(result.gate.status === 'open' ? `Your ${decision === 'approve' ? 'approval' : 'rejection'} counts; the gate waits for more.` : `Gate ${result.gate.status}.`, true);
    } catch (err) {
      onVoted((err as Error).message, false);
    } finally {
      setBusy(false);
    }
  }
  return (
    <article className="card gate-card" aria-label={`Approval for ${label}`}>
      <header>
        <h2>
          <code>{item.tool}</code> · risk <span className={`risk risk-${item.risk}`}>{item.risk}</span>
        </h2>
        <p>
          Rule <code>{item.ruleId}</code>: {item.reason}. Requested by <strong>{item.requester}</strong> in{' '}
          {item.sessionId ? <Link to={`/sessions/${item.sessionId}`}>{item.sessionId.slice(0, 16)}…</Link> : <Link to={`/agents/${item.agent ?? ''}`}>agent {item.agent}</Link>},{' '}
          <time dateTime={item.openedAt}>{age(item.openedAt)}</time>.
        </p>
      </header>
      <pre className="block approve-text" tabIndex={0} aria-label={`what ${item.tool} would run`}>
        {item.display.text}
      </pre>
      <p className="meta">
        {item.display.bytes} bytes · sha256 <code className="hash">{item.display.sha256}</code>
      </p>
      {item.display.flags.length > 0 && (
        <p className="warn" role="note">
          Contains {item.display.flags.map((f) => FLAG_TEXT[f] ?? f).join(', ')}.
        </p>
      )}
      <p className="votes" data-testid="votes">
        {item.approvals.length} of {item.required} approvals{item.roles.length > 0 ? ` (roles: ${item.roles.join(', ')})` : ''}
        {item.approvals.length > 0 ? `: ${item.approvals.map((a) => a.approver).join(', ')}` : ''}
      </p>
      <div className="row">
        <label className="grow">
          Comment
          <input value={comment} onChange={(e) => setComment(e.target.value)} maxLength={2000} />
        </label>
        <button type="button" disabled={busy} onClick={() => void decide('approve')} aria-label={`Approve ${label}`}>
          Approve
        </button>
        <button type="button" className="danger" disabled={busy} onClick={() => void decide('reject')} aria-label={`Reject ${label}`}>
          Reject
        </button>
      </div>
    </article>
  );
}

export function Approvals() {
  const [items, setItems] = useState<InboxItem[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<{ text: string; ok: boolean } | null>(null);

  const load = useCallback(async () => {
    try {
      const res = await call<{ data: InboxItem[] }>('GET', '/v1/approvals');
      setItems(res.data);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);

  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [load]);

  return (
    <main>
      <h1>Approvals</h1>
      {note && (
        <p role={note.ok ? 'status' : 'alert'} className={note.ok ? 'ok' : 'error'}>
          {note.text}
        </p>
      )}
      <Alert message={error} />
      {items?.length === 0 && <p className="empty">Nothing waits for you.</p>}
      {items?.map((item) => (
        <Gate
          key={item.gateId}
          item={item}
          onVoted={(text, ok) => {
            setNote({ text, ok });
            void load();
          }}
        />
      ))}
    </main>
  );
}

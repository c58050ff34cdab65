/** The live session: its state, the transcript as it streams, follow-up messages, cancel. */
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { call } from '../api.js';
import { usd } from '../format.js';
import { Link } from '../Link.js';
import { useSessionEvents } from '../sse.js';
import { EventItem, toolDurations } from '../Transcript.js';
import { TERMINAL, type SessionJson } from '../types.js';

function Gates({ session }: { session: SessionJson }) {
  if (session.pendingApprovals.length === 0) return null;
  return (
    <section className="card" aria-labelledby="gates-h">
      <h2 id="gates-h">Waiting for approval</h2>
      {session.pendingApprovals.map((g) => (
        <div key={g.id} className="gate">
          <code>{g.tool}</code> — rule <code>{g.ruleId}</code>, risk {g.risk}: {g.approvals.length} of {g.required} approvals
          {g.approvals.length > 0 && <> ({g.approvals.map((a) => a.approver).join(', ')})</>}. <Link to="/approvals">Open the inbox</Link>
        </div>
      ))}
    </section>
  );
}

function Actions({ session, onDone }: { session: SessionJson; onDone: () => void }) {
  const [message, setMessage] = useState('');
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const ended = TERMINAL.includes(session.status);
  async function send(event: FormEvent) {
    event.preventDefault();
    try {
      await call('POST', `/v1/sessions/${session.id}/messages`, { content: message });
      setMessage('');
      setNote({ ok: true, text: 'Message sent.' });
    } catch (err) {
      setNote({ ok: false, text: (err as Error).message });
    }
    onDone();
  }
  async function cancel() {
    try {
      await call('POST', `/v1/sessions/${session.id}/cancel`, { reason: 'cancelled from the console' });
      setNote({ ok: true, text: 'Cancel requested.' });
    } catch (err) {
      setNote({ ok: false, text: (err as Error).message });
    }
    onDone();
  }
  if (ended) return null;
  return (
    <section className="card" aria-label="Act on the session">
      <form onSubmit={(e) => void send(e)} className="row">
        <label className="grow">
          Follow-up message
          <input value={message} onChange={(e) => setMessage(e.target.value)} required />
        </label>
        <button type="submit">Send</button>
        <button type="button" className="danger" onClick={() => void cancel()}>
          Cancel session
        </button>
      </form>
      {note && (
        <p role={note.ok ? 'status' : 'alert'} className={note.ok ? 'ok' : 'error'}>
          {note.text}
        </p>
      )}
    </section>
  );
}

/**
 * Logs in for the Temporal Web UI's codec calls (an HttpOnly cookie on /v1/codec, api/codec-login.ts), then opens
 * the session there: the UI, fetching the codec with credentials, then shows the payloads decoded. The tab is opened
 * on the click itself (a popup blocker would stop one opened after the await) and sent on once the cookie is set.
 */
function DecodeInTemporalUi({ href }: { href: string }) {
  const [error, setError] = useState<string | null>(null);
  async function open() {
    const tab = window.open('about:blank', '_blank');
    try {
      await call('POST', '/v1/codec/login');
      setError(null);
      if (tab) {
        tab.opener = null; // the UI's tab gets no handle on the console
        tab.location.href = href;
      }
      else window.location.href = href;
    } catch (err) {
      tab?.close();
      setError((err as Error).message);
    }
  }
  return (
    <>
      <button type="button" onClick={() => void open()}>
        Decode in Temporal UI
      </button>
      {error && (
        <span role="alert" className="error">
          {error}
        </span>
      )}
    </>
  );
}

export function SessionPage({ id }: { id: string }) {
  const [session, setSession] = useState<SessionJson | null>(null);
  const [error, setError] = useState<string | null>(null);
  const stream = useSessionEvents(id);
  const durations = useMemo(() => toolDurations(stream.events), [stream.events]);
  const [tick, setTick] = useState(0);

  // The row follows the events: refetch when new ones arrive (and after an action).
  useEffect(() => {
    let live = true;
    call<SessionJson>('GET', `/v1/sessions/${id}`)
      .then((s) => live && setSession(s))
      .catch((err: Error) => live && setError(err.message));
    return () => {
      live = false;
    };
  }, [id, stream.events.length, tick]);

  if (error && !session) {
    return (
      <main>
        <p role="alert" className="error">
          {error}
        </p>
      </main>
    );
  }
  const ended = session && TERMINAL.includes(session.status);
  return (
    <main>
      <h1>
        Session <code>{id}</code>
      </h1>
      {session && (
        <section className="card summary" aria-label="Summary">
          <dl>
            <dt>Status</dt>
            <dd>
              <span className={`status status-${session.status}`} data-testid="session-status">
                {session.status}
              </span>
            </dd>
            <dt>Agent</dt>
            <dd>{session.agentVersion ? `${session.agent}@${session.agentVersion.slice(0, 8)}` : session.agent}</dd>
            <dt>Requester</dt>
            <dd>{session.requester}</dd>
            <dt>Policy</dt>
            <dd>{session.policy.name}</dd>
            <dt>Steps</dt>
            <dd>{session.step}</dd>
            <dt>Tokens</dt>
            <dd>
              {session.usage.inputTokens} in / {session.usage.outputTokens} out ({session.usage.llmCalls} model calls, {session.usage.toolCalls} tool calls)
            </dd>
            <dt>Cost</dt>
            <dd data-testid="session-cost">{usd(session.usage.costUsd)}</dd>
          </dl>
          <p className="links">
            <a href={session.links.temporalUi} target="_blank" rel="noreferrer">
              Open in Temporal Web UI
            </a>
            <DecodeInTemporalUi href={session.links.temporalUi} />
            <Link to={`/cost?session=${id}`}>Model calls and cost</Link>
            {ended && <Link to={`/replay/${id}`}>Replay this session</Link>}
          </p>
        </section>
      )}
      {session && <Gates session={session} />}
      {session && <Actions session={session} onDone={() => setTick((t) => t + 1)} />}
      <h2>
        Transcript <span className="muted">{stream.connected ? '(live)' : ended ? '' : '(reconnecting…)'}</span>
      </h2>
      <ol className="transcript" aria-live="polite" aria-label="Transcript">
        {stream.events.map((e) => (
          <li key={e.seq} className={`ev ev-${e.type.replace('.', '-')}`} data-seq={e.seq}>
            <EventItem e={e} durationMs={durations.get(e.seq)} />
          </li>
        ))}
      </ol>
    </main>
  );
}

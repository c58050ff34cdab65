/** Sessions: newest first, filtered by status and agent, paged by the API's cursor; start a new one. */
import { useEffect, useState, type FormEvent } from 'react';
import { call } from '../api.js';
import { age, usd } from '../format.js';
import { Link } from '../Link.js';
import { navigate } from '../router.js';
import { SESSION_STATUSES } from '../../../domain/session.js';
import type { CreateSession, SessionJson } from '../types.js';
import { Alert } from '../Alert.js';
const PAGE = 20;

function NewSession() {
  const [message, setMessage] = useState('');
  const [agent, setAgent] = useState('');
  const [policy, setPolicy] = useState('');
  const [error, setError] = useState<string | null>(null);

  async function start(event: FormEvent) {
    event.preventDefault();
    setError(null);
    const body: CreateSession = { message, ...(agent ? { agent } : {}), ...(policy ? { policy } : {}) };
    try {
      const session = await call<SessionJson>('POST', '/v1/sessions', body);
      navigate(`/sessions/${session.id}`);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <form className="card new-session" onSubmit={(e) => void start(e)} aria-label="Start a session">
      <h2>Start a session</h2>
      <label>
        Message
        <textarea name="message" value={message} onChange={(e) => setMessage(e.target.value)} required rows={2} />
      </label>
      <div className="row">
        <label>
          Agent
          <input name="agent" value={agent} onChange={(e) => setAgent(e.target.value)} placeholder="default" />
        </label>
        <label>
          Policy
          <input name="policy" value={policy} onChange={(e) => setPolicy(e.target.value)} placeholder="tenant default" />
        </label>
        <button type="submit">Start</button>
      </div>
      <Alert message={error} />
    </form>
  );
}

export function Sessions({ query }: { query: URLSearchParams }) {
  const status = query.get('status') ?? '';
  const agent = query.get('agent') ?? '';
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<{ data: SessionJson[]; nextCursor: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [agentInput, setAgentInput] = useState(agent);
  const cursor = cursors.at(-1) ?? null;

  useEffect(() => setCursors([null]), [status, agent]);
  useEffect(() => {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (status) params.set('status', status);
    if (agent) params.set('agent', agent);
    if (cursor) params.set('cursor', cursor);
    let live = true;
    call<{ data: SessionJson[]; nextCursor: string | null }>('GET', `/v1/sessions?${params}`)
      .then((p) => live && (setPage(p), setError(null)))
      .catch((err: Error) => live && setError(err.message));
    return () => {
      live = false;
    };
  }, [status, agent, cursor]);

  const filter = (next: { status?: string; agent?: string }) => {
    const params = new URLSearchParams();
    const s = next.status ?? status;
    const a = next.agent ?? agent;
    if (s) params.set('status', s);
    if (a) params.set('agent', a);
    navigate(`/${params.size ? `?${params}` : ''}`);
  };

  return (
    <main>
      <h1>Sessions</h1>
      <NewSession />
      <form
        className="filters"
        aria-label="Filter sessions"
        onSubmit={(e) => {
          e.preventDefault();
          filter({ agent: agentInput.trim() });
        }}
      >
        <label>
          Status
          <select value={status} onChange={(e) => filter({ status: e.target.value })}>
            <option value="">any</option>
            {SESSION_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Agent
          <input value={agentInput} onChange={(e) => setAgentInput(e.target.value)} placeholder="any" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Alert message={error} />
      <table className="sessions">
        <caption className="sr-only">Sessions, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Status</th>
            <th scope="col">Agent</th>
            <th scope="col">Requester</th>
            <th scope="col">Steps</th>
            <th scope="col">Cost</th>
            <th scope="col">Age</th>
          </tr>
        </thead>
        <tbody>
          {page?.data.map((s) => (
            <tr key={s.id}>
              <td>
                <Link to={`/sessions/${s.id}`}>{s.id.slice(0, 16)}…</Link>
              </td>
              <td>
                <span className={`status status-${s.status}`}>{s.status}</span>
              </td>
              <td>{s.agentVersion ? `${s.agent}@${s.agentVersion.slice(0, 8)}` : s.agent}</td>
              <td>{s.requester}</td>
              <td>{s.step}</td>
              <td>{usd(s.usage.costUsd)}</td>
              <td>
                <time dateTime={s.createdAt}>{age(s.createdAt)}</time>
              </td>
            </tr>
          ))}
          {page?.data.length === 0 && (
            <tr>
              <td colSpan={7}>No sessions{status || agent ? ' match these filters' : ' yet'}.</td>
            </tr>
          )}
        </tbody>
      </table>
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </button>
        <span>page {cursors.length}</span>
        <button type="button" disabled={!page?.nextCursor} onClick={() => page?.nextCursor && setCursors((c) => [...c, page.nextCursor])}>
          Older
        </button>
      </nav>
    </main>
  );
}

/** Cost from the ledger: one session's model calls, or the tenant's spend by day, agent or model, and its budgets. */
import { useEffect, useState } from 'react';
import { costClient, ok } from '../api.js';
import { usd } from '../format.js';
import { Link } from '../Link.js';
import { navigate } from '../router.js';
import { Alert } from '../Alert.js';

type SessionCalls = Awaited<ReturnType<typeof loadSession>>;
type Report = Awaited<ReturnType<typeof loadReport>>;
type Group = 'day' | 'agent' | 'model';

const loadSession = async (id: string) => ok(await costClient.sessions[':id']['llm-calls'].$get({ param: { id } }));
const loadReport = async (groupBy: Group, days: number) =>
  ok(await costClient.cost.$get({ query: { groupBy, from: new Date(Date.now() - days * 86_400_000).toISOString() } }));

function SessionCost({ id }: { id: string }) {
  const [data, setData] = useState<SessionCalls | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    loadSession(id).then(setData, (err: Error) => setError(err.message));
  }, [id]);
  return (
    <>
      <h1>
        Model calls of <Link to={`/sessions/${id}`}>{id}</Link>
      </h1>
      <Alert message={error} />
      {data && (
        <table className="ledger">
          <caption className="sr-only">Each model call of the session, from the ledger</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Route</th>
              <th scope="col">Model</th>
              <th scope="col">Tokens in</th>
              <th scope="col">Tokens out</th>
              <th scope="col">Cached</th>
              <th scope="col">Cost</th>
              <th scope="col">Saved</th>
              <th scope="col">Cache hit</th>
              <th scope="col">Fallback</th>
            </tr>
          </thead>
          <tbody>
            {data.data.map((r) => (
              <tr key={r.id} className="ledger-row">
                <td>
                  <time dateTime={r.createdAt}>{new Date(r.createdAt).toLocaleTimeString()}</time>
                </td>
                <td>{r.route}</td>
                <td>{r.model}</td>
                <td>{r.inputTokens}</td>
                <td>{r.outputTokens}</td>
                <td>{r.cachedInputTokens}</td>
                <td>{usd(r.costUsd)}</td>
                <td>{usd(r.savedUsd)}</td>
                <td>{r.cacheHit ? 'yes' : 'no'}</td>
                <td>{r.fallbackUsed ? `yes${r.downgradedFrom ? ` (from ${r.downgradedFrom})` : ''}` : 'no'}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colSpan={3}>
                Total ({data.total.calls} calls)
              </th>
              <td>{data.total.inputTokens}</td>
              <td>{data.total.outputTokens}</td>
              <td>{data.total.cachedInputTokens}</td>
              <td data-testid="ledger-total">{usd(data.total.costUsd)}</td>
              <td>{usd(data.total.savedUsd)}</td>
              <td colSpan={2} />
            </tr>
          </tfoot>
        </table>
      )}
    </>
  );
}

function TenantCost() {
  const [groupBy, setGroupBy] = useState<Group>('day');
  const [days, setDays] = useState(30);
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [session, setSession] = useState('');
  useEffect(() => {
    loadReport(groupBy, days).then(setReport, (err: Error) => setError(err.message));
  }, [groupBy, days]);
  const max = Math.max(1e-9, ...(report?.data.map((g) => g.costUsd) ?? [0]));
  return (
    <>
      <h1>Cost</h1>
      {report && (
        <section className="card" aria-labelledby="budget-h">
          <h2 id="budget-h">Budgets</h2>
          <p>
            Today: {usd(report.budget.spentTodayUsd)} spent
            {report.budget.dailyUsd !== null ? `, ${usd(report.budget.leftTodayUsd ?? 0)} left of ${usd(report.budget.dailyUsd)}` : ' (no daily budget)'}. This month:{' '}
            {usd(report.budget.spentThisMonthUsd)} spent
            {report.budget.monthlyUsd !== null ? `, ${usd(report.budget.leftThisMonthUsd ?? 0)} left of ${usd(report.budget.monthlyUsd)}` : ' (no monthly budget)'}.
          </p>
        </section>
      )}
      <form className="filters" aria-label="Cost report" onSubmit={(e) => e.preventDefault()}>
        <label>
          Group by
          <select value={groupBy} onChange={(e) => setGroupBy(e.target.value as Group)}>
            <option value="day">day</option>
            <option value="agent">agent</option>
            <option value="model">model</option>
          </select>
        </label>
        <label>
          Period
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={1}>last day</option>
            <option value={7}>last 7 days</option>
            <option value={30}>last 30 days</option>
            <option value={365}>last year</option>
          </select>
        </label>
      </form>
      <Alert message={error} />
      {report && (
        <table className="ledger">
          <caption className="sr-only">Spend by {groupBy}</caption>
          <thead>
            <tr>
              <th scope="col">{groupBy}</th>
              <th scope="col">Calls</th>
              <th scope="col">Tokens in / out</th>
              <th scope="col">Cache hits</th>
              <th scope="col">Cost</th>
              <th scope="col">Saved</th>
              <th scope="col">
                <span className="sr-only">Share</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {report.data.map((g) => (
              <tr key={g.key}>
                <th scope="row">{g.key}</th>
                <td>{g.calls}</td>
                <td>
                  {g.inputTokens} / {g.outputTokens}
                </td>
                <td>{g.cacheHits}</td>
                <td>{usd(g.costUsd)}</td>
                <td>{usd(g.savedUsd)}</td>
                <td>
                  <meter min={0} max={max} value={g.costUsd} aria-label={`share of ${g.key}`} />
                </td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">Total</th>
              <td>{report.total.calls}</td>
              <td colSpan={2} />
              <td>{usd(report.total.costUsd)}</td>
              <td>{usd(report.total.savedUsd)}</td>
              <td />
            </tr>
          </tfoot>
        </table>
      )}
      <form
        className="row"
        aria-label="One session's model calls"
        onSubmit={(e) => {
          e.preventDefault();
          if (session.trim()) navigate(`/cost?session=${encodeURIComponent(session.trim())}`);
        }}
      >
        <label className="grow">
          Session id
          <input value={session} onChange={(e) => setSession(e.target.value)} placeholder="ses_…" />
        </label>
        <button type="submit">Show its model calls</button>
      </form>
    </>
  );
}

export function Cost({ session }: { session: string | null }) {
  return <main>{session ? <SessionCost id={session} /> : <TenantCost />}</main>;
}

/**
 * Replay: a finished session's Temporal history (or an uploaded history
 * JSON) stepped through event by event, nothing run; and the server's
 * verdict on whether the current workflow code replays it deterministically.
 */
import { useEffect, useState, type ChangeEvent } from 'react';
import { call, ok, replayClient } from '../api.js';
import { Link } from '../Link.js';
import { Alert } from '../Alert.js';

interface HistoryEvent {
  eventId?: string | number;
  eventTime?: string;
  eventType?: string;
  [attributes: string]: unknown;
}
type Verdict = Awaited<ReturnType<typeof checkSession>> | Awaited<ReturnType<typeof checkUpload>>;

const checkSession = async (id: string) => ok(await replayClient.sessions[':id']['replay-check'].$get({ param: { id } }));
const checkUpload = async (history: { events: HistoryEvent[] }) => ok(await replayClient['replay-check'].$post({ json: { history } }));

async function loadHistory(id: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let token: string | null = null;
  do {
    const page: { events: HistoryEvent[]; nextPageToken: string | null } = await call('GET', `/v1/sessions/${id}/history${token ? `?pageToken=${token}` : ''}`);
    events.push(...page.events);
    token = page.nextPageToken;
  } while (token);
  return events;
}

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` or `ActivityTaskScheduled` → `Activity task scheduled`. */
function eventName(type: string | undefined): string {
  const raw = (type ?? 'unknown').replace(/^EVENT_TYPE_/, '');
  const words = raw.includes('_') ? raw.toLowerCase().split('_') : raw.split(/(?=[A-Z])/).map((w) => w.toLowerCase());
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function decodePayload(p: unknown): unknown {
  const payload = p as { data?: string; metadata?: Record<string, string> };
  if (typeof payload?.data !== 'string') return p;
  try {
    const text = new TextDecoder().decode(Uint8Array.from(atob(payload.data), (c) => c.charCodeAt(0)));
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  } catch {
    return payload.data;
  }
}

/** The event's attributes with every payload decoded (default data converter: JSON in base64). */
function decoded(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decoded);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (Array.isArray(obj.payloads)) return obj.payloads.map(decodePayload);
    if (typeof obj.data === 'string' && obj.metadata) return decodePayload(obj);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, decoded(v)]));
  }
  return value;
}

function attributesOf(e: HistoryEvent): [string, unknown] | undefined {
  const key = Object.keys(e).find((k) => k.endsWith('EventAttributes'));
  return key ? [key, decoded(e[key])] : undefined;
}

/** A short label: the activity, signal or update name when there is one. */
function subject(e: HistoryEvent): string {
  const attrs = attributesOf(e)?.[1] as Record<string, { name?: string } | string | undefined> | undefined;
  const name = (attrs?.activityType as { name?: string } | undefined)?.name ?? (attrs?.signalName as string | undefined) ?? (attrs?.workflowType as { name?: string } | undefined)?.name;
  return name ? ` · ${name}` : '';
}

function Timeline({ events }: { events: HistoryEvent[] }) {
  const [at, setAt] = useState(0);
  const current = events[at];
  const attrs = current ? attributesOf(current) : undefined;
  const go = (i: number) => setAt(Math.max(0, Math.min(events.length - 1, i)));
  return (
    <section className="replay" aria-label="Timeline">
      <div className="row controls">
        <button type="button" onClick={() => go(0)} disabled={at === 0}>
          First
        </button>
        <button type="button" onClick={() => go(at - 1)} disabled={at === 0}>
          Previous
        </button>
        <label className="grow">
          Event {at + 1} of {events.length}
          <input type="range" min={0} max={Math.max(0, events.length - 1)} value={at} onChange={(e) => go(Number(e.target.value))} />
        </label>
        <button type="button" onClick={() => go(at + 1)} disabled={at >= events.length - 1}>
          Next
        </button>
        <button type="button" onClick={() => go(events.length - 1)} disabled={at >= events.length - 1}>
          Last
        </button>
      </div>
      <div className="replay-panes">
        <ol className="events" aria-label="Events">
          {events.map((e, i) => (
            <li key={i}>
              <button type="button" aria-current={i === at ? 'step' : undefined} onClick={() => go(i)}>
                {String(e.eventId ?? i + 1)}. {eventName(e.eventType)}
                {subject(e)}
              </button>
            </li>
          ))}
        </ol>
        <article className="card" aria-live="polite" aria-label="Current event">
          {current && (
            <>
              <h2 data-testid="replay-event">
                {String(current.eventId ?? at + 1)}. {eventName(current.eventType)}
                {subject(current)}
              </h2>
              <p className="muted">{current.eventTime}</p>
              <pre className="block" tabIndex={0} aria-label="Event attributes">
                {JSON.stringify(attrs?.[1] ?? {}, null, 2)}
              </pre>
            </>
          )}
        </article>
      </div>
    </section>
  );
}

function VerdictView({ verdict, error }: { verdict: Verdict | null; error: string | null }) {
  if (error)
    return (
      <p role="alert" className="error">
        Replay check failed: {error}
      </p>
    );
  if (!verdict) return <p role="status">Checking whether the current code replays it…</p>;
  return verdict.deterministic ? (
    <p role="status" className="ok" data-testid="replay-verdict">
      Deterministic: the current workflow code replays all {verdict.events} events.
    </p>
  ) : (
    <p role="alert" className="error" data-testid="replay-verdict">
      {verdict.nondeterministic ? 'Not deterministic' : 'Replay failed'}
      {verdict.divergesAtEventId !== null ? ` at event ${verdict.divergesAtEventId}` : ''}: {verdict.error}
    </p>
  );
}

export function Replay({ id }: { id?: string | undefined }) {
  const [events, setEvents] = useState<HistoryEvent[] | null>(null);
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [checkError, setCheckError] = useState<string | null>(null);

  useEffect(() => {
    setEvents(null);
    setVerdict(null);
    setCheckError(null);
    if (!id) return;
    loadHistory(id).then(setEvents, (err: Error) => setError(err.message));
    checkSession(id).then(setVerdict, (err: Error) => setCheckError(err.message));
  }, [id]);

  async function upload(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    if (!file) return;
    setError(null);
    setVerdict(null);
    setCheckError(null);
    try {
      const history = JSON.parse(await file.text()) as { events?: HistoryEvent[] };
      if (!Array.isArray(history.events)) throw new Error('the file has no "events" array: export the history as JSON');
      setEvents(history.events);
      checkUpload({ events: history.events }).then(setVerdict, (err: Error) => setCheckError(err.message));
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <main>
      <h1>Replay{id ? <> of <Link to={`/sessions/${id}`}>{id}</Link></> : ''}</h1>
      {!id && (
        <section className="card">
          <label>
            Upload an exported history (JSON)
            <input type="file" accept="application/json,.json" onChange={(e) => void upload(e)} />
          </label>
          <p className="muted">Or open a finished session and follow its Replay link.</p>
        </section>
      )}
      <Alert message={error} />
      {events && <VerdictView verdict={verdict} error={checkError} />}
      {events && <Timeline events={events} />}
    </main>
  );
}
